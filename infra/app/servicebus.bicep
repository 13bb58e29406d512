// Service Bus namespace (Standard: queues with duplicate detection) and the sync queues.
// SAS keys are off (disableLocalAuth): senders and receivers authenticate with Entra ID.
param name string
param location string
param tags object = {}
param queueNames array
param maxDeliveryCount int
param lockDuration string
param duplicateDetectionWindow string
@description('Principals: the app identity first, then optionally a user (or a pipeline).')
param principalIds array
@allowed(['User', 'ServicePrincipal'])
param otherPrincipalType string = 'User'

// Built-in role definition ids: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/integration
var serviceBusDataReceiver = '4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0' // Azure Service Bus Data Receiver
var serviceBusDataSender = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39' // Azure Service Bus Data Sender
var principalType = [for (principal, index) in principalIds: index == 0 ? 'ServicePrincipal' : otherPrincipalType]

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

// The workers receive (trigger) and the pipelines send (fan-out, reschedules).
resource receiver 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (principal, index) in principalIds: {
    name: guid(namespace.id, principal, serviceBusDataReceiver)
    scope: namespace
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataReceiver)
      principalId: principal
      principalType: principalType[index]
    }
  }
]

resource sender 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (principal, index) in principalIds: {
    name: guid(namespace.id, principal, serviceBusDataSender)
    scope: namespace
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceBusDataSender)
      principalId: principal
      principalType: principalType[index]
    }
  }
]

output name string = namespace.name
// serviceBusEndpoint is https://<name>.servicebus.windows.net:443/ (or a sovereign cloud's suffix).
output fullyQualifiedNamespace string = split(replace(namespace.properties.serviceBusEndpoint, 'https://', ''), ':')[0]
