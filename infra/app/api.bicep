// The function app on Flex Consumption (FC1), Python 3.11, with a user-assigned identity,
// its deployment package in blob storage reached with that identity, and every app setting
// Lockstep reads (README "App settings"). Identity-based connections only: `<connection>__*`
// settings name a service and the identity, never a key.
param name string
param location string
param tags object = {}
param planId string
param storageAccountName string
param deploymentContainerName string
param applicationInsightsName string
param identityId string
param identityClientId string
param maximumInstanceCount int
param instanceMemoryMB int
@allowed(['servicebus', 'storage'])
param queueBackend string
@description('<namespace>.servicebus.windows.net; empty when QUEUE_BACKEND=storage.')
param serviceBusNamespace string
param cosmosEndpoint string
param cosmosDatabaseName string
param keyVaultUri string
param redisHost string
param redisPort int

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// AzureWebJobsStorage: the host's storage (timer leases, queue triggers) with the identity.
var storageSettings = {
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  AzureWebJobsStorage__blobServiceUri: storageAccount.properties.primaryEndpoints.blob
  AzureWebJobsStorage__queueServiceUri: storageAccount.properties.primaryEndpoints.queue
}

// ServiceBusConnection: the Service Bus trigger's connection, with the identity.
var serviceBusSettings = queueBackend == 'servicebus'
  ? {
      ServiceBusConnection__fullyQualifiedNamespace: serviceBusNamespace
      ServiceBusConnection__credential: 'managedidentity'
      ServiceBusConnection__clientId: identityClientId
    }
  : {}

var lockstepSettings = {
  AzureWebJobsFeatureFlags: 'EnableWorkerIndexing'
  // The Azure SDK's DefaultAzureCredential (Cosmos DB, Key Vault, Service Bus, Redis) picks
  // the user-assigned identity by its client id.
  AZURE_CLIENT_ID: identityClientId
  // OpenTelemetry / Application Insights: the connection string only names the ingestion
  // endpoint (local auth is off); the identity authenticates the telemetry.
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  // telemetryMode OpenTelemetry (host.json): the Python worker exports its own telemetry
  // (azure-monitor-opentelemetry), and the host does not send the same again.
  PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY: 'true'
  QUEUE_BACKEND: queueBackend
  STORE_BACKEND: 'cosmos'
  COSMOS_ENDPOINT: cosmosEndpoint
  COSMOS_DATABASE: cosmosDatabaseName
  COSMOS_VERIFY_TLS: 'true'
  // The containers are this template's (cosmos.bicep); the identity has data access only.
  COSMOS_CREATE_RESOURCES: 'false'
  SECRET_BACKEND: 'keyvault'
  KEY_VAULT_URL: keyVaultUri
  REDIS_HOST: redisHost
  REDIS_PORT: string(redisPort)
  REDIS_TLS: 'true'
  // Outbound calls may reach no private address (main's SSRF policy; a no-op before it lands).
  OUTBOUND_ALLOW_PRIVATE_CIDRS: ''
  RATELIMIT_INSTANCES: '4'
  RATELIMIT_TIMEOUT_MS: '100'
  TENANT_REQUESTS_PER_MINUTE: '6000'
  WEBHOOK_REQUESTS_PER_MINUTE: '1200'
  WEBHOOK_MISSED_GRACE_SECONDS: '300'
  WEBHOOK_MISSED_THRESHOLD: '5'
  THROTTLE_MAX_WAIT_SECONDS: '2'
  MAX_RESCHEDULES: '50'
  PUSH_SAFETY_NET_SECONDS: '300'
  BREAKER_FAILURES: '5'
  BREAKER_WINDOW_SECONDS: '60'
  BREAKER_COOLDOWN_SECONDS: '60'
  NOTIFY_SCHEDULE: '0 */1 * * * *'
  NOTIFY_DIGEST_MINUTES: '15'
  RATE_LIMIT_ALERT_MINUTES: '15'
  MASS_DELETE_SHARE: '0.2'
  MASS_DELETE_MIN_RECORDS: '10'
  SYNC_SCHEDULE: '0 */5 * * * *'
  TOKEN_REFRESH_SCHEDULE: '0 */10 * * * *'
  TOKEN_REFRESH_WINDOW_MINUTES: '60'
  TOKEN_REFRESH_CONCURRENCY: '8'
  SYNC_PAGE_SIZE: '100'
  MAX_TASKS_PER_TICK: '500'
  LOG_LEVEL: 'INFO'
  // Empty: providers send browsers back to /api/connect/callback on the app's own host.
  // OAUTH_CLIENTS (client secrets) is set by the operator as a Key Vault reference.
  OAUTH_REDIRECT_URL: ''
}

module site 'br/public:avm/res/web/site:0.15.1' = {
  name: 'site-flex-consumption'
  params: {
    kind: 'functionapp,linux'
    name: name
    location: location
    tags: union(tags, { 'azd-service-name': 'api' })
    serverFarmResourceId: planId
    httpsOnly: true
    managedIdentities: {
      systemAssigned: false
      userAssignedResourceIds: [identityId]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storageAccount.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: '3.11'
      }
    }
    siteConfig: {
      alwaysOn: false
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
    // Publishing with a user name and password is off: deployments use Entra ID.
    basicPublishingCredentialsPolicies: [
      { name: 'ftp', allow: false }
      { name: 'scm', allow: false }
    ]
    appSettingsKeyValuePairs: union(storageSettings, serviceBusSettings, lockstepSettings)
  }
}

output name string = site.outputs.name
