// Redis for the shared rate limiter and the token-refresh locks, with Microsoft Entra ID
// authentication only: access keys are off and the app's identity gets an access policy.
// The app connects to REDIS_HOST:REDIS_PORT over TLS with a token (integration_core/ratelimit/entra.py).
param name string
param location string
param tags object = {}
@allowed(['managed', 'cache'])
@description('managed: Azure Managed Redis (Balanced_B0). cache: Azure Cache for Redis (Basic C0).')
param kind string
@description('Object id of the app identity.')
param principalId string

// Azure Managed Redis: a cluster and its one database; Entra ID only (accessKeysAuthentication).
resource managed 'Microsoft.Cache/redisEnterprise@2025-07-01' = if (kind == 'managed') {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Balanced_B0'
  }
  properties: {
    minimumTlsVersion: '1.2'
  }
}

resource managedDatabase 'Microsoft.Cache/redisEnterprise/databases@2025-07-01' = if (kind == 'managed') {
  parent: managed
  name: 'default'
  properties: {
    accessKeysAuthentication: 'Disabled'
    clientProtocol: 'Encrypted'
    // One endpoint for a client that is not cluster-aware; the limiter's scripts use one key set.
    clusteringPolicy: 'EnterpriseCluster'
    // Rate-limit windows and locks must never be evicted to make room.
    evictionPolicy: 'NoEviction'
    port: 10000
  }
}

// The built-in 'default' access policy: read and write on every key.
resource managedAccess 'Microsoft.Cache/redisEnterprise/databases/accessPolicyAssignments@2025-07-01' = if (kind == 'managed') {
  parent: managedDatabase
  name: 'lockstepapp'
  properties: {
    accessPolicyName: 'default'
    user: {
      objectId: principalId
    }
  }
}

// Azure Cache for Redis: Entra ID on (aad-enabled), access keys off.
resource cache 'Microsoft.Cache/redis@2024-11-01' = if (kind == 'cache') {
  name: name
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'Basic'
      family: 'C'
      capacity: 0
    }
    enableNonSslPort: false
    minimumTlsVersion: '1.2'
    disableAccessKeyAuthentication: true
    redisConfiguration: {
      'aad-enabled': 'true'
    }
  }
}

// Built-in 'Data Contributor' access policy: data commands, not the dangerous ones.
resource cacheAccess 'Microsoft.Cache/redis/accessPolicyAssignments@2024-11-01' = if (kind == 'cache') {
  parent: cache
  name: 'lockstepapp'
  properties: {
    accessPolicyName: 'Data Contributor'
    objectId: principalId
    objectIdAlias: 'lockstep-app'
  }
}

output hostName string = kind == 'managed' ? managed!.properties.hostName : cache!.properties.hostName
output port int = kind == 'managed' ? 10000 : 6380
