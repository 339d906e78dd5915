// Package upstream reads the fact files that the runtime-contract tests hold the program to:
// small test-data files of what an upstream release reads, serves, names or runs as, each headed
// by where it comes from (repository, tag, commit, paths). A test names the file of the version
// the program pins, so that bumping a version fails the tests until its facts are read again
// at the new tag.
package upstream

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// File is one fact file: its header and its rows.
type File struct {
	Path string
	// Meta are the header's "# key: value" lines (source, tag, commit, paths, …).
	Meta map[string]string
	// Rows are the other non-empty lines, split at tabs.
	Rows [][]string
}

// Read parses a fact file. It must name its source and the tag or version it was read at.
func Read(path string) (File, error) {
	f, err := os.Open(path)
	if err != nil {
		return File{}, fmt.Errorf("no facts for this version: %w (read them at the pinned tag; see docs/compatibility.md)", err)
	}
	defer f.Close()
	file := File{Path: path, Meta: map[string]string{}}
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimRight(s.Text(), " \t")
		switch {
		case line == "":
		case strings.HasPrefix(line, "#"):
			if k, v, ok := strings.Cut(strings.TrimSpace(strings.TrimPrefix(line, "#")), ":"); ok && !strings.Contains(k, " ") {
				file.Meta[k] = strings.TrimSpace(v)
			}
		default:
			file.Rows = append(file.Rows, strings.Split(line, "\t"))
		}
	}
	if err := s.Err(); err != nil {
		return File{}, err
	}
	for _, k := range []string{"source", "tag"} {
		if file.Meta[k] == "" {
			return File{}, fmt.Errorf("%s: the header names no %s", path, k)
		}
	}
	return file, nil
}

// Column is the i-th field of every row ("" where a row is shorter).
func (f File) Column(i int) []string {
	out := make([]string, len(f.Rows))
	for r, row := range f.Rows {
		if i < len(row) {
			out[r] = row[i]
		}
	}
	return out
}

// Set is the i-th field of every row, as a set.
func (f File) Set(i int) map[string]bool {
	out := map[string]bool{}
	for _, v := range f.Column(i) {
		out[v] = true
	}
	return out
}
