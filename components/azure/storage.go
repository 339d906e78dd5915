package azure

import (
	"fmt"

	"github.com/pulumi/pulumi-azure-native-sdk/storage/v2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/posthog-deploy/posthog-deploy/components/foundation"
	"github.com/posthog-deploy/posthog-deploy/config"
)

// newStorage is one storage account with the buckets as blob containers, which it returns by
// name with their resource ids. ClickHouse's backups reach it as the buckets' workload identity
// (clickhouse-backup speaks Azure Blob), never with a key: shared keys are off. PostHog's own
// object storage speaks S3 only, so on Azure it stays off (see config.AzureBlob).
func newStorage(ctx *pulumi.Context, cfg *config.Config, rg pulumi.StringOutput, keep []pulumi.ResourceOption,
	on pulumi.ResourceOption) (foundation.ObjectStorage, map[string]pulumi.StringOutput, error) {
	sku := "Standard_ZRS"
	if cfg.Environment == config.Prod {
		sku = "Standard_GZRS" // zone- and geo-redundant copies
	}
	account, err := storage.NewStorageAccount(ctx, "posthog-storage", &storage.StorageAccountArgs{
		ResourceGroupName:      rg,
		AccountName:            pulumi.String(cfg.ObjectStore.AccountName()),
		Location:               pulumi.String(cfg.Region),
		Kind:                   pulumi.String("StorageV2"),
		Sku:                    storage.SkuArgs{Name: pulumi.String(sku)},
		AllowBlobPublicAccess:  pulumi.Bool(false),
		MinimumTlsVersion:      pulumi.String("TLS1_2"),
		EnableHttpsTrafficOnly: pulumi.Bool(true),
		// Microsoft Entra ID only: no account key to leak (policy PH-CL-004).
		AllowSharedKeyAccess: pulumi.Bool(false),
	}, keep...)
	if err != nil {
		return foundation.ObjectStorage{}, nil, err
	}
	days := cfg.ObjectStore.NoncurrentVersionDays
	if _, err := storage.NewBlobServiceProperties(ctx, "posthog-storage", &storage.BlobServicePropertiesArgs{
		ResourceGroupName:   rg,
		AccountName:         account.Name,
		BlobServicesName:    pulumi.String("default"),
		IsVersioningEnabled: pulumi.Bool(true),
		// Soft delete: a deleted blob or container is recoverable for as long as an old version.
		DeleteRetentionPolicy:          storage.DeleteRetentionPolicyArgs{Enabled: pulumi.Bool(true), Days: pulumi.Int(min(days, 365))},
		ContainerDeleteRetentionPolicy: storage.DeleteRetentionPolicyArgs{Enabled: pulumi.Bool(true), Days: pulumi.Int(min(days, 365))},
	}, keep...); err != nil {
		return foundation.ObjectStorage{}, nil, err
	}
	if _, err := storage.NewManagementPolicy(ctx, "posthog-storage", &storage.ManagementPolicyArgs{
		ResourceGroupName: rg, AccountName: account.Name, ManagementPolicyName: pulumi.String("default"),
		Policy: storage.ManagementPolicySchemaArgs{Rules: storage.ManagementPolicyRuleArray{storage.ManagementPolicyRuleArgs{
			Name: pulumi.String("expire-old-versions"), Type: pulumi.String("Lifecycle"), Enabled: pulumi.Bool(true),
			Definition: storage.ManagementPolicyDefinitionArgs{
				Filters: storage.ManagementPolicyFilterArgs{BlobTypes: pulumi.ToStringArray([]string{"blockBlob"})},
				Actions: storage.ManagementPolicyActionArgs{Version: storage.ManagementPolicyVersionArgs{
					Delete: storage.DateAfterCreationArgs{DaysAfterCreationGreaterThan: pulumi.Float64(float64(days))},
				}},
			},
		}}},
	}, on); err != nil {
		return foundation.ObjectStorage{}, nil, err
	}
	data, backups := cfg.ObjectStore.Buckets()
	containers := map[string]pulumi.StringOutput{}
	for _, b := range []string{data, backups} {
		c, err := storage.NewBlobContainer(ctx, b, &storage.BlobContainerArgs{
			ResourceGroupName: rg, AccountName: account.Name, ContainerName: pulumi.String(b),
			PublicAccess: storage.PublicAccessNone,
		}, keep...)
		if err != nil {
			return foundation.ObjectStorage{}, nil, err
		}
		containers[b] = c.ID().ToStringOutput()
	}
	return foundation.ObjectStorage{
		API:            config.AzureBlob,
		Endpoint:       fmt.Sprintf("https://%s.blob.core.windows.net", cfg.ObjectStore.AccountName()),
		Account:        cfg.ObjectStore.AccountName(),
		Region:         cfg.Region,
		Buckets:        foundation.Buckets{Data: data, Backups: backups},
		ServiceAccount: foundation.StorageAccountName,
	}, containers, nil
}
