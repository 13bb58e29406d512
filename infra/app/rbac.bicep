// Azure role assignments for the app identity (and, optionally, a user), each on the one
// resource it needs. Built-in role definition ids: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles
// Service Bus roles are in servicebus.bicep (the namespace exists only for QUEUE_BACKEND=servicebus);
// Cosmos DB data access is Cosmos DB's own RBAC (cosmos.bicep); Redis uses access policies (redis.bicep).
param storageAccountName string
param keyVaultName string
param appInsightsName string
@description('Principals: the app identity first, then optionally a user (or a pipeline).')
param principalIds array
@allowed(['User', 'ServicePrincipal'])
param otherPrincipalType string = 'User'

var storageBlobDataOwner = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // Storage Blob Data Owner
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // Storage Queue Data Contributor
var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7' // Key Vault Secrets Officer
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb' // Monitoring Metrics Publisher

var principalType = [for (principal, index) in principalIds: index == 0 ? 'ServicePrincipal' : otherPrincipalType]

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource keyVault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

// Host storage (deployment package, timer leases) and the claim-check container.
resource blobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (principal, index) in principalIds: {
    name: guid(storageAccount.id, principal, storageBlobDataOwner)
    scope: storageAccount
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataOwner)
      principalId: principal
      principalType: principalType[index]
    }
  }
]

// Storage queues (QUEUE_BACKEND=storage) and the queue trigger's poison queues.
resource queueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (principal, index) in principalIds: {
    name: guid(storageAccount.id, principal, storageQueueDataContributor)
    scope: storageAccount
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributor)
      principalId: principal
      principalType: principalType[index]
    }
  }
]

// The credential store: read, write and rotate secret values.
resource secretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (principal, index) in principalIds: {
    name: guid(keyVault.id, principal, keyVaultSecretsOfficer)
    scope: keyVault
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficer)
      principalId: principal
      principalType: principalType[index]
    }
  }
]

// Application Insights with local auth off accepts telemetry only from an Entra identity.
resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (principal, index) in principalIds: {
    name: guid(appInsights.id, principal, monitoringMetricsPublisher)
    scope: appInsights
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
      principalId: principal
      principalType: principalType[index]
    }
  }
]
