/**
 * How the Kafka bridge is set up (src/config.ts reads it from the environment). The
 * bridge runs only when brokers are configured.
 */
import type { IntegrationEventType, TopicRole } from './messages';

export interface BridgeSettings {
  /** host:port of each bootstrap broker. */
  brokers: string[];
  clientId: string;
  /** The topic of each role (defaults `ledger.transfers`, `ledger.accounts`). */
  topics: Record<TopicRole, string>;
  /** Partitions of a topic the bridge creates (an existing topic keeps its own). */
  partitions: number;
  /** Replication factor of a topic the bridge creates. */
  replicationFactor: number;
  /** The integration event types published; the others are passed over. */
  eventTypes: readonly IntegrationEventType[];
  /** The CloudEvents `source` of every message (a URI reference). */
  source: string;
}

/** The bridge's lease, checkpoint and status row. */
export const bridgeName = 'integration-bridge';

export const defaultTopics: Record<TopicRole, string> = {
  transfers: 'ledger.transfers',
  accounts: 'ledger.accounts',
};
export const defaultPartitions = 6;
export const defaultCloudEventsSource = '/ledger';
export const defaultKafkaClientId = 'ledger';
