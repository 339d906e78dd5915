// Package objectstore deploys an in-cluster, S3-compatible object store (MinIO), the stand-in
// for a cloud's buckets on the local stack. Its buckets are versioned like the clouds' are, and
// it returns the same shape the clouds do.
package objectstore

import (
	"fmt"
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/components/foundation"
	"github.com/posthog-deploy/posthog-deploy/components/kube"
	"github.com/posthog-deploy/posthog-deploy/config"
)

// Name is the StatefulSet and Service; Port the S3 API.
const (
	Name = "objectstore"
	// BucketsApp labels the pods of the Job that creates the buckets.
	BucketsApp = "objectstore-buckets"
	Port       = 9000
	// User is the access key id of the store's root user.
	User = "posthog"
)

// Store is the deployed object store.
type Store struct {
	pulumi.ResourceState
	Storage foundation.ObjectStorage
}

// Args is the store's config, its root user's key, and where it runs.
type Args struct {
	Config config.ObjectStore
	// SecretKey is the root user's key, a Pulumi secret.
	SecretKey pulumi.StringOutput
	Placement kube.Placement
}

// New deploys the store with the foundation's buckets, each versioned.
func New(ctx *pulumi.Context, name string, args Args, opts ...pulumi.ResourceOption) (*Store, error) {
	o, secretKey, p := args.Config, args.SecretKey, args.Placement
	s := &Store{}
	if err := ctx.RegisterComponentResource("posthog-deploy:data:ObjectStore", name, s, opts...); err != nil {
		return nil, err
	}
	child := pulumi.Parent(s)
	selector := kube.Labels(Name, nil)
	if _, err := kube.NewSecret(ctx, Name, p.Namespace, selector, pulumi.StringMap{
		"MINIO_ROOT_USER":     pulumi.String(User),
		"MINIO_ROOT_PASSWORD": secretKey,
	}, child); err != nil {
		return nil, err
	}
	credentials := corev1.EnvFromSourceArray{corev1.EnvFromSourceArgs{SecretRef: corev1.SecretEnvSourceArgs{Name: pulumi.String(Name)}}}
	set, err := kube.NewStateful(ctx, kube.Stateful{
		Name:     Name,
		Replicas: 1,
		Selector: selector,
		Container: kube.Container{
			Image:     o.Image,
			Command:   []string{"minio", "server", "/data", "--address", fmt.Sprintf(":%d", Port)},
			EnvFrom:   credentials,
			Ports:     []kube.Port{{Name: "s3", Port: Port}},
			Resources: kube.Resources{CPU: "250m", Memory: "1Gi"},
			Readiness: kube.HTTPProbe("/minio/health/ready", "s3", 10),
			Liveness:  kube.HTTPProbe("/minio/health/live", "s3", 20),
		},
		DataPath: "/data",
		Storage:  o.Storage,
	}, p, child)
	if err != nil {
		return nil, err
	}
	endpoint := fmt.Sprintf("http://%s:%d", kube.PodHosts(Name, 1, p.NamespaceName)[0], Port)
	buckets := foundation.Buckets{Data: "posthog", Backups: "clickhouse-backups"}
	script := []string{"set -e", `mc alias set store "$ENDPOINT" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"`}
	for _, b := range []string{buckets.Data, buckets.Backups} {
		script = append(script, "mc mb --ignore-existing store/"+b, "mc version enable store/"+b,
			"mc anonymous set none store/"+b)
	}
	job := strings.Join(script, "\n")
	if _, err := kube.NewJob(ctx, "objectstore-buckets-"+kube.Hash(job)[:8], kube.Job{
		Selector: kube.Labels(BucketsApp, nil),
		Container: kube.Container{
			Image:     o.ClientImage,
			Command:   []string{"sh", "-ec", job},
			Env:       corev1.EnvVarArray{corev1.EnvVarArgs{Name: pulumi.String("ENDPOINT"), Value: pulumi.String(endpoint)}},
			EnvFrom:   credentials,
			Resources: kube.Resources{CPU: "100m", Memory: "128Mi"},
		},
	}, p, child, pulumi.DependsOn([]pulumi.Resource{set})); err != nil {
		return nil, err
	}
	s.Storage = foundation.ObjectStorage{
		API:      config.S3,
		Endpoint: endpoint,
		Region:   "us-east-1",
		Buckets:  buckets,
		Credentials: &foundation.Credentials{
			AccessKey: pulumi.String(User).ToStringOutput(),
			SecretKey: secretKey,
		},
	}
	if err := ctx.RegisterResourceOutputs(s, pulumi.Map{"endpoint": pulumi.String(endpoint)}); err != nil {
		return nil, err
	}
	return s, nil
}
