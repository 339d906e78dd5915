package platform_test

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/eks"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kms"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/rds"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi-azure-native-sdk/containerservice/v2"
	"github.com/pulumi/pulumi-azure-native-sdk/dbforpostgresql/v2"
	"github.com/pulumi/pulumi-azure-native-sdk/network/v2"
	"github.com/pulumi/pulumi-azure-native-sdk/resources/v2"
	"github.com/pulumi/pulumi-azure-native-sdk/storage/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"

	"github.com/posthog-deploy/posthog-deploy/config"
)

// sdkArgs are the AWS and azure-native resources the stacks create, by token, with their SDK
// Args type: the provider schemas of those two are not obtainable offline (their provider modules
// are refused by the proxy, their repositories too large to bring), so the pinned SDKs' own
// types are the schema. Each Args type's ElementType is the plain struct the SDK marshals,
// whose `pulumi` tags are the provider's property names and whose non-pointer fields are required.
var sdkArgs = map[string]interface{ ElementType() reflect.Type }{
	"aws:ec2/eip:Eip":                                                      ec2.EipArgs{},
	"aws:ec2/internetGateway:InternetGateway":                              ec2.InternetGatewayArgs{},
	"aws:ec2/natGateway:NatGateway":                                        ec2.NatGatewayArgs{},
	"aws:ec2/routeTable:RouteTable":                                        ec2.RouteTableArgs{},
	"aws:ec2/routeTableAssociation:RouteTableAssociation":                  ec2.RouteTableAssociationArgs{},
	"aws:ec2/securityGroup:SecurityGroup":                                  ec2.SecurityGroupArgs{},
	"aws:ec2/subnet:Subnet":                                                ec2.SubnetArgs{},
	"aws:ec2/vpc:Vpc":                                                      ec2.VpcArgs{},
	"aws:eks/addon:Addon":                                                  eks.AddonArgs{},
	"aws:eks/accessEntry:AccessEntry":                                      eks.AccessEntryArgs{},
	"aws:eks/accessPolicyAssociation:AccessPolicyAssociation":              eks.AccessPolicyAssociationArgs{},
	"aws:eks/cluster:Cluster":                                              eks.ClusterArgs{},
	"aws:eks/nodeGroup:NodeGroup":                                          eks.NodeGroupArgs{},
	"aws:iam/openIdConnectProvider:OpenIdConnectProvider":                  iam.OpenIdConnectProviderArgs{},
	"aws:iam/role:Role":                                                    iam.RoleArgs{},
	"aws:iam/rolePolicy:RolePolicy":                                        iam.RolePolicyArgs{},
	"aws:iam/rolePolicyAttachment:RolePolicyAttachment":                    iam.RolePolicyAttachmentArgs{},
	"aws:kms/key:Key":                                                      kms.KeyArgs{},
	"aws:rds/instance:Instance":                                            rds.InstanceArgs{},
	"aws:rds/parameterGroup:ParameterGroup":                                rds.ParameterGroupArgs{},
	"aws:rds/subnetGroup:SubnetGroup":                                      rds.SubnetGroupArgs{},
	"aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2": s3.BucketLifecycleConfigurationV2Args{},
	"aws:s3/bucketOwnershipControls:BucketOwnershipControls":               s3.BucketOwnershipControlsArgs{},
	"aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock":               s3.BucketPublicAccessBlockArgs{},
	"aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2": s3.BucketServerSideEncryptionConfigurationV2Args{},
	"aws:s3/bucketV2:BucketV2":                                 s3.BucketV2Args{},
	"aws:s3/bucketVersioningV2:BucketVersioningV2":             s3.BucketVersioningV2Args{},
	"azure-native:containerservice:AgentPool":                  containerservice.AgentPoolArgs{},
	"azure-native:containerservice:ManagedCluster":             containerservice.ManagedClusterArgs{},
	"azure-native:dbforpostgresql:Database":                    dbforpostgresql.DatabaseArgs{},
	"azure-native:dbforpostgresql:Configuration":               dbforpostgresql.ConfigurationArgs{},
	"azure-native:authorization:RoleAssignment":                roleAssignmentArgs{},
	"azure-native:managedidentity:UserAssignedIdentity":        identityArgs{},
	"azure-native:managedidentity:FederatedIdentityCredential": federatedCredentialArgs{},
	"azure-native:dbforpostgresql:Server":                      dbforpostgresql.ServerArgs{},
	"azure-native:network:PrivateZone":                         network.PrivateZoneArgs{},
	"azure-native:network:Subnet":                              network.SubnetArgs{},
	"azure-native:network:VirtualNetwork":                      network.VirtualNetworkArgs{},
	"azure-native:network:VirtualNetworkLink":                  network.VirtualNetworkLinkArgs{},
	"azure-native:resources:ResourceGroup":                     resources.ResourceGroupArgs{},
	"azure-native:storage:BlobContainer":                       storage.BlobContainerArgs{},
	"azure-native:storage:BlobServiceProperties":               storage.BlobServicePropertiesArgs{},
	"azure-native:storage:ManagementPolicy":                    storage.ManagementPolicyArgs{},
	"azure-native:storage:StorageAccount":                      storage.StorageAccountArgs{},
}

// roleAssignmentArgs stands in for the SDK type of azure-native:authorization:RoleAssignment,
// whose module the proxy does not serve (components/azure.RoleAssignment): the inputs of the
// provider's resource as the ARM API's RoleAssignmentProperties name them (principalId,
// roleDefinitionId and scope required).
type roleAssignmentArgs struct{}

func (roleAssignmentArgs) ElementType() reflect.Type {
	return reflect.TypeOf(struct {
		PrincipalId                        string  `pulumi:"principalId"`
		PrincipalType                      *string `pulumi:"principalType"`
		RoleDefinitionId                   string  `pulumi:"roleDefinitionId"`
		Scope                              string  `pulumi:"scope"`
		RoleAssignmentName                 *string `pulumi:"roleAssignmentName"`
		Condition                          *string `pulumi:"condition"`
		ConditionVersion                   *string `pulumi:"conditionVersion"`
		DelegatedManagedIdentityResourceId *string `pulumi:"delegatedManagedIdentityResourceId"`
		Description                        *string `pulumi:"description"`
	}{})
}

// identityArgs and federatedCredentialArgs stand in for Microsoft.ManagedIdentity's SDK types,
// not served either: the ARM API's userAssignedIdentities and federatedIdentityCredentials
// (2023-01-31) properties, the provider's resource names in their path.
type identityArgs struct{}

func (identityArgs) ElementType() reflect.Type {
	return reflect.TypeOf(struct {
		ResourceGroupName string            `pulumi:"resourceGroupName"`
		ResourceName      *string           `pulumi:"resourceName"`
		Location          *string           `pulumi:"location"`
		Tags              map[string]string `pulumi:"tags"`
	}{})
}

type federatedCredentialArgs struct{}

func (federatedCredentialArgs) ElementType() reflect.Type {
	return reflect.TypeOf(struct {
		ResourceGroupName                       string   `pulumi:"resourceGroupName"`
		ResourceName                            string   `pulumi:"resourceName"`
		FederatedIdentityCredentialResourceName *string  `pulumi:"federatedIdentityCredentialResourceName"`
		Issuer                                  string   `pulumi:"issuer"`
		Subject                                 string   `pulumi:"subject"`
		Audiences                               []string `pulumi:"audiences"`
	}{})
}

// Every resource the cloud stacks send to AWS or Azure has only properties its SDK type knows,
// every required one, and values of the declared kinds. Value rules (enums, sizes) are not in
// these types: the cloud facts in config hold the ones that matter.
func TestEveryAWSAndAzureResourceMatchesItsSDKType(t *testing.T) {
	checked := 0
	for _, s := range cloudStacks(t) {
		for _, r := range s.rs {
			if !r.Custom || !strings.HasPrefix(r.Type, "aws:") && !strings.HasPrefix(r.Type, "azure-native:") {
				continue
			}
			args, ok := sdkArgs[r.Type]
			if !ok {
				t.Errorf("%s: %s has no SDK type in sdkArgs: add it", s.name, r.Type)
				continue
			}
			for _, problem := range checkPlain(resource.NewObjectProperty(r.Inputs), args.ElementType()) {
				t.Errorf("%s: %s %s: %s", s.name, r.Type, r.Name, problem)
			}
			checked++
		}
	}
	if checked < 100 {
		t.Errorf("only %d AWS and Azure resources checked", checked)
	}
}

// checkPlain lists how v breaks the plain SDK type typ.
func checkPlain(v resource.PropertyValue, typ reflect.Type) []string {
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	if v.IsNull() || v.IsComputed() || v.IsOutput() || v.IsResourceReference() {
		return nil
	}
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	want := func(ok bool, kind string) []string {
		if ok {
			return nil
		}
		return []string{fmt.Sprintf(": want a %s, got %v %v", kind, v.TypeString(), v.V)}
	}
	switch typ.Kind() {
	case reflect.String:
		return want(v.IsString(), "string")
	case reflect.Bool:
		return want(v.IsBool(), "boolean")
	case reflect.Int, reflect.Int64, reflect.Int32:
		return want(v.IsNumber() && v.NumberValue() == float64(int64(v.NumberValue())), "integer")
	case reflect.Float64, reflect.Float32:
		return want(v.IsNumber(), "number")
	case reflect.Interface:
		return nil // any
	case reflect.Slice:
		if !v.IsArray() {
			return want(false, "list")
		}
		var out []string
		for i, e := range v.ArrayValue() {
			for _, p := range checkPlain(e, typ.Elem()) {
				out = append(out, fmt.Sprintf("[%d]%s", i, p))
			}
		}
		return out
	case reflect.Map:
		if !v.IsObject() {
			return want(false, "map")
		}
		var out []string
		for k, e := range v.ObjectValue() {
			for _, p := range checkPlain(e, typ.Elem()) {
				out = append(out, fmt.Sprintf("[%q]%s", k, p))
			}
		}
		return out
	case reflect.Struct:
		if !v.IsObject() {
			return want(false, "object ("+typ.Name()+")")
		}
		fields := map[string]reflect.StructField{}
		for i := range typ.NumField() {
			f := typ.Field(i)
			if tag := f.Tag.Get("pulumi"); tag != "" {
				fields[tag] = f
			}
		}
		var out []string
		obj := v.ObjectValue()
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range obj {
				if !yield(string(k)) {
					return
				}
			}
		}) {
			if strings.HasPrefix(k, "__") {
				continue
			}
			f, ok := fields[k]
			if !ok {
				out = append(out, fmt.Sprintf(".%s: unknown property of %s", k, typ.Name()))
				continue
			}
			for _, p := range checkPlain(obj[resource.PropertyKey(k)], f.Type) {
				out = append(out, "."+k+p)
			}
		}
		for tag, f := range fields {
			switch f.Type.Kind() {
			case reflect.String, reflect.Bool, reflect.Int, reflect.Float64, reflect.Struct:
				if e, ok := obj[resource.PropertyKey(tag)]; !ok || e.IsNull() {
					out = append(out, fmt.Sprintf(".%s: required by %s, missing", tag, typ.Name()))
				}
			}
		}
		return out
	}
	return nil
}

// The checker catches each kind of mistake on a real SDK type.
func TestSDKTypeCheckCatchesMistakes(t *testing.T) {
	typ := sdkArgs["aws:ec2/subnet:Subnet"].ElementType()
	good := resource.NewObjectProperty(resource.NewPropertyMapFromMap(map[string]any{
		"vpcId": "vpc-1", "cidrBlock": "10.0.0.0/19", "tags": map[string]any{"Name": "a"}}))
	if p := checkPlain(good, typ); len(p) > 0 {
		t.Errorf("a valid subnet was refused: %v", p)
	}
	bad := resource.NewObjectProperty(resource.NewPropertyMapFromMap(map[string]any{
		"cidrBlok": "10.0.0.0/19", "mapPublicIpOnLaunch": "yes", "tags": map[string]any{"Name": 1}}))
	got := strings.Join(checkPlain(bad, typ), "\n")
	for _, want := range []string{".cidrBlok: unknown property", ".mapPublicIpOnLaunch: want a boolean",
		`.tags["Name"]: want a string`, ".vpcId: required by subnetArgs, missing"} {
		if !strings.Contains(got, want) {
			t.Errorf("the check missed %q:\n%s", want, got)
		}
	}
}

// azure-native's Server takes the PostgreSQL versions of the API version the module defaults to
// (2022-12-01: ServerVersion 11 to 14); every version an Azure stack may ask for must be one of
// them, or a newer API-version module must be pinned for it.
func TestAzurePostgresVersionsAreInTheSDKsEnum(t *testing.T) {
	enum := []dbforpostgresql.ServerVersion{dbforpostgresql.ServerVersion_11, dbforpostgresql.ServerVersion_12,
		dbforpostgresql.ServerVersion_13, dbforpostgresql.ServerVersion_14}
	for _, v := range config.Facts(config.Azure).Postgres {
		if !slices.Contains(enum, dbforpostgresql.ServerVersion(v.Version)) {
			t.Errorf("Azure stacks may ask for PostgreSQL %s, which the pinned API version does not list: %v", v.Version, enum)
		}
	}
	for _, s := range cloudStacks(t) {
		for _, r := range ofType(s.rs, "azure-native:dbforpostgresql:Server") {
			if v := dbforpostgresql.ServerVersion(str(get(obj(r), "version"))); !slices.Contains(enum, v) {
				t.Errorf("%s: Flexible Server version %q is not in the SDK's enum %v", s.name, v, enum)
			}
		}
	}
}
