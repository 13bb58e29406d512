// Lockstep on Azure: everything the function app needs, in one resource group.
// `azd up`, or `az deployment group create -g <group> -f infra/main.bicep -p environmentName=<name>`.
// No keys and no connection strings: every service is reached with the app's user-assigned
// managed identity, and every service that can turn local (key) auth off has it off.
targetScope = 'resourceGroup'

@minLength(1)
@maxLength(64)
@description('Name of the environment; hashed with the resource group into the resource names.')
param environmentName string

@minLength(1)
@description('Region of every resource (Flex Consumption must be available there).')
param location string = resourceGroup().location

@description('Object id of a user to grant the same data access as the app (for debugging). Empty: none.')
param principalId string = ''

@allowed(['User', 'ServicePrincipal'])
@description('Kind of principalId: a user, or a service principal when a pipeline deploys.')
param principalType string = 'User'

@allowed(['servicebus', 'storage'])
@description('QUEUE_BACKEND: Service Bus queues, or Storage queues on the host storage account.')
param queueBackend string = 'servicebus'

@allowed(['managed', 'cache'])
@description('Azure Managed Redis (managed) or Azure Cache for Redis (cache), both with Entra ID auth.')
param redisKind string = 'managed'

@minValue(1)
@maxValue(1000)
@description('Flex Consumption: the most instances the app scales out to.')
param maximumInstanceCount int = 40

@allowed([512, 2048, 4096])
@description('Flex Consumption: memory of each instance, in MB.')
param instanceMemoryMB int = 2048

@description('Cosmos DB database name (COSMOS_DATABASE).')
param cosmosDatabaseName string = 'lockstep'

@minValue(1)
@description('Service Bus: deliveries before a message is dead-lettered.')
param serviceBusMaxDeliveryCount int = 10

@description('Service Bus: how long a received message stays locked (ISO 8601, at most PT5M).')
param serviceBusLockDuration string = 'PT5M'

@description('Service Bus: window in which a repeated message id is dropped (ISO 8601).')
param serviceBusDuplicateDetectionWindow string = 'PT10M'

var abbrs = loadJsonContent('./abbreviations.json')
var resourceToken = toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))
var tags = { 'azd-env-name': environmentName }
var functionAppName = '${abbrs.webSitesFunctions}lockstep-${resourceToken}'
var deploymentContainerName = 'app-package-${take(resourceToken, 7)}'
// The queues the workers read (integration_core/messaging/base.py QUEUES).
var queueNames = ['sync-inbound', 'sync-outbound']
// Large webhook bodies are kept here and the queue message carries a reference (claim check).
var webhookBodyContainerName = 'webhook-bodies'
var storageQueues = [for queue in queueNames: { name: queue }]
// Who gets data access: the app's identity, and the deploying user when principalId is given.
var principalIds = empty(principalId) ? [identity.outputs.principalId] : [identity.outputs.principalId, principalId]

// The app's identity: every role and access policy below is granted to it.
module identity 'br/public:avm/res/managed-identity/user-assigned-identity:0.4.1' = {
  name: 'identity'
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}lockstep-${resourceToken}'
    location: location
    tags: tags
  }
}

module plan 'br/public:avm/res/web/serverfarm:0.1.1' = {
  name: 'plan'
  params: {
    name: '${abbrs.webServerFarms}${resourceToken}'
    sku: {
      name: 'FC1'
      tier: 'FlexConsumption'
    }
    reserved: true
    location: location
    tags: tags
  }
}

// Host storage (timers, deployment package), the claim-check container, and the Storage
// queues when QUEUE_BACKEND=storage. Shared keys off: identity only.
module storage 'br/public:avm/res/storage/storage-account:0.8.3' = {
  name: 'storage'
  params: {
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    dnsEndpointType: 'Standard'
    minimumTlsVersion: 'TLS1_2'
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      defaultAction: 'Allow'
      bypass: 'AzureServices'
    }
    blobServices: {
      containers: [
        { name: deploymentContainerName }
        { name: webhookBodyContainerName }
      ]
    }
    queueServices: queueBackend == 'storage' ? { queues: storageQueues } : {}
  }
}

module serviceBus 'app/servicebus.bicep' = if (queueBackend == 'servicebus') {
  name: 'servicebus'
  params: {
    name: '${abbrs.serviceBusNamespaces}${resourceToken}'
    location: location
    tags: tags
    queueNames: queueNames
    maxDeliveryCount: serviceBusMaxDeliveryCount
    lockDuration: serviceBusLockDuration
    duplicateDetectionWindow: serviceBusDuplicateDetectionWindow
    principalIds: principalIds
    otherPrincipalType: principalType
  }
}

module cosmos 'app/cosmos.bicep' = {
  name: 'cosmos'
  params: {
    name: '${abbrs.documentDBDatabaseAccounts}${resourceToken}'
    location: location
    tags: tags
    databaseName: cosmosDatabaseName
    principalIds: principalIds
  }
}

module keyVault 'app/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    name: '${abbrs.keyVaultVaults}${resourceToken}'
    location: location
    tags: tags
  }
}

module redis 'app/redis.bicep' = {
  name: 'redis'
  params: {
    name: '${redisKind == 'managed' ? abbrs.cacheRedisEnterprise : abbrs.cacheRedis}${resourceToken}'
    location: location
    tags: tags
    kind: redisKind
    principalId: identity.outputs.principalId
  }
}

module logAnalytics 'br/public:avm/res/operational-insights/workspace:0.16.1' = {
  name: 'loganalytics'
  params: {
    name: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    location: location
    tags: tags
    dataRetention: 30
    features: {
      disableLocalAuth: true
    }
  }
}

module monitoring 'br/public:avm/res/insights/component:0.4.1' = {
  name: 'appinsights'
  params: {
    name: '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
    workspaceResourceId: logAnalytics.outputs.resourceId
    disableLocalAuth: true
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  params: {
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    appInsightsName: monitoring.outputs.name
    principalIds: principalIds
    otherPrincipalType: principalType
  }
}

module api 'app/api.bicep' = {
  name: 'api'
  params: {
    name: functionAppName
    location: location
    tags: tags
    planId: plan.outputs.resourceId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsName: monitoring.outputs.name
    identityId: identity.outputs.resourceId
    identityClientId: identity.outputs.clientId
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    queueBackend: queueBackend
    serviceBusNamespace: queueBackend == 'servicebus' ? serviceBus!.outputs.fullyQualifiedNamespace : ''
    cosmosEndpoint: cosmos.outputs.endpoint
    cosmosDatabaseName: cosmosDatabaseName
    keyVaultUri: keyVault.outputs.uri
    redisHost: redis.outputs.hostName
    redisPort: redis.outputs.port
  }
  // The app starts with its data access in place.
  dependsOn: [rbac]
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = resourceGroup().name
output AZURE_FUNCTION_NAME string = api.outputs.name
output SERVICE_API_NAME string = api.outputs.name
output COSMOS_ENDPOINT string = cosmos.outputs.endpoint
output KEY_VAULT_URL string = keyVault.outputs.uri
output REDIS_HOST string = redis.outputs.hostName
