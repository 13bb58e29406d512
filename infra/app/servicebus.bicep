// Service Bus namespace (Standard: queues with duplicate detection) and the sync queues.
// SAS keys are off (disableLocalAuth): senders and receivers authenticate with Entra ID.
param name string
param location string
param tags object = {}
param queueNames array
param maxDeliveryCount int
param lockDuration string
param duplicateDetectionWindow string

resource namespace 'Microsoft.ServiceBus/namespaces@2024-01-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    disableLocalAuth: true
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Enabled'
  }
}

// Message ids are deterministic, so duplicate detection drops a re-sent message; after
// maxDeliveryCount failed deliveries (or on expiry) a message moves to the dead-letter queue.
resource queues 'Microsoft.ServiceBus/namespaces/queues@2024-01-01' = [
  for queueName in queueNames: {
    parent: namespace
    name: queueName
    properties: {
      maxDeliveryCount: maxDeliveryCount
      lockDuration: lockDuration
      requiresDuplicateDetection: true
      duplicateDetectionHistoryTimeWindow: duplicateDetectionWindow
      deadLetteringOnMessageExpiration: true
      defaultMessageTimeToLive: 'P14D'
      enablePartitioning: false
      requiresSession: false
    }
  }
]

output name string = namespace.name
// serviceBusEndpoint is https://<name>.servicebus.windows.net:443/ (or a sovereign cloud's suffix).
output fullyQualifiedNamespace string = split(replace(namespace.properties.serviceBusEndpoint, 'https://', ''), ':')[0]
