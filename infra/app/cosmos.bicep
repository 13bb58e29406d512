// Cosmos DB (NoSQL, serverless) with local (key) auth off, the database and every
// container the app uses, and the data-plane role for the app's identity. The app runs with
// COSMOS_CREATE_RESOURCES=false: this template owns the containers and their settings.
param name string
param location string
param tags object = {}
param databaseName string
@description('Principals (the app identity, optionally a user) granted data-plane access.')
param principalIds array

// Every container is partitioned by tenant (integration_core/storage/base.py PARTITION_KEY).
var partitionKeyPath = '/tenantId'
// integration_core/storage/base.py CONTAINERS: name and default TTL in seconds; -1 turns TTL
// on without a default (a document's own `ttl` still applies), as the app creates them.
// Composite indexes: integration_core/storage/cosmos.py COMPOSITE_INDEXES.
var containers = [
  { name: 'integrations', defaultTtl: -1, compositeIndexes: [] }
  {
    name: 'sync-tasks'
    defaultTtl: -1
    compositeIndexes: [
      [
        { path: '/priority', order: 'descending' }
        { path: '/nextDueAt', order: 'ascending' }
      ]
    ]
  }
  { name: 'sync-results', defaultTtl: 2592000, compositeIndexes: [] }
  { name: 'sync-progress', defaultTtl: 86400, compositeIndexes: [] }
  { name: 'entities', defaultTtl: -1, compositeIndexes: [] }
  { name: 'links', defaultTtl: -1, compositeIndexes: [] }
  { name: 'conflicts', defaultTtl: -1, compositeIndexes: [] }
  { name: 'duplicate-candidates', defaultTtl: -1, compositeIndexes: [] }
  { name: 'dead-letters', defaultTtl: -1, compositeIndexes: [] }
  { name: 'webhooks', defaultTtl: -1, compositeIndexes: [] }
  { name: 'webhook-inbox', defaultTtl: 2592000, compositeIndexes: [] }
  { name: 'webhook-audit', defaultTtl: 2592000, compositeIndexes: [] }
  { name: 'credentials', defaultTtl: -1, compositeIndexes: [] }
  { name: 'token-refresh', defaultTtl: 7776000, compositeIndexes: [] }
  { name: 'api-keys', defaultTtl: -1, compositeIndexes: [] }
  { name: 'admin-audit', defaultTtl: 31536000, compositeIndexes: [] }
  { name: 'notification-destinations', defaultTtl: -1, compositeIndexes: [] }
  { name: 'notification-incidents', defaultTtl: 7776000, compositeIndexes: [] }
  { name: 'notification-outbox', defaultTtl: 604800, compositeIndexes: [] }
  { name: 'notification-preferences', defaultTtl: -1, compositeIndexes: [] }
  { name: 'held-deletes', defaultTtl: -1, compositeIndexes: [] }
  { name: 'oauth-states', defaultTtl: 600, compositeIndexes: [] }
]
var dataContributorRoleId = '00000000-0000-0000-0000-000000000002' // Cosmos DB Built-in Data Contributor

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-11-15' = {
  name: name
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    capabilities: [
      { name: 'EnableServerless' }
    ]
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: 'Enabled'
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-11-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
  }
}

resource sqlContainers 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-11-15' = [
  for container in containers: {
    parent: database
    name: container.name
    properties: {
      resource: {
        id: container.name
        partitionKey: {
          paths: [partitionKeyPath]
          kind: 'Hash'
        }
        defaultTtl: container.defaultTtl
        indexingPolicy: {
          indexingMode: 'consistent'
          automatic: true
          includedPaths: [{ path: '/*' }]
          excludedPaths: [{ path: '/"_etag"/?' }]
          compositeIndexes: container.compositeIndexes
        }
      }
    }
  }
]

// Data-plane access is Cosmos DB's own RBAC (sqlRoleAssignments), not an Azure role.
resource dataContributor 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-11-15' = [
  for principal in principalIds: {
    parent: account
    name: guid(account.id, principal, dataContributorRoleId)
    properties: {
      roleDefinitionId: '${account.id}/sqlRoleDefinitions/${dataContributorRoleId}'
      principalId: principal
      scope: account.id
    }
  }
]

output name string = account.name
output endpoint string = account.properties.documentEndpoint
