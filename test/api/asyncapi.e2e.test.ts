/**
 * GET /asyncapi.json: the AsyncAPI document of the Kafka messages validates with the
 * AsyncAPI parser, has a message for every integration event type on the configured
 * topics, and each message's example is valid against its own headers and payload schemas.
 * With the bridge off it describes the defaults; with it on, the configured bridge.
 */
import { type AsyncAPIDocumentInterface, DiagnosticSeverity, type Input, Parser } from '@asyncapi/parser';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import request from 'supertest';
import { createApp } from '../../src/api/app';
import { integrationEvents, integrationEventTypes } from '../../src/integration/messages';
import {
  type BridgeSettings,
  defaultCloudEventsSource,
  defaultPartitions,
  defaultTopics,
} from '../../src/integration/settings';
import { testLogger } from '../support/ledger';
import { type ApiHarness, startApi } from './harness';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const parser = new Parser();

/** The diagnostics of severity error: what makes a document invalid. */
async function errorsOf(document: Json): Promise<string[]> {
  const diagnostics = await parser.validate(document as Input);
  return diagnostics
    .filter((d) => d.severity === DiagnosticSeverity.Error)
    .map((d) => `${d.path.join('/')}: ${d.message}`);
}

async function parsed(document: Json): Promise<AsyncAPIDocumentInterface> {
  const { document: model, diagnostics } = await parser.parse(document as Input);
  if (!model) throw new Error(`the document did not parse: ${JSON.stringify(diagnostics)}`);
  return model;
}

describe('the AsyncAPI document', () => {
  let api: ApiHarness;
  let document: Json;

  beforeAll(async () => {
    api = await startApi();
    const res = await request(api.app).get('/asyncapi.json');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    document = res.body;
  });
  afterAll(() => api.close());

  it('is AsyncAPI 3.0.0 and validates with the AsyncAPI parser', async () => {
    expect(document.asyncapi).toBe('3.0.0');
    expect(await errorsOf(document)).toEqual([]);
  });

  it('a broken document does not validate (the check can fail)', async () => {
    const broken = structuredClone(document);
    delete broken.info.version;
    broken.channels.transfers.bindings.kafka.partitions = 'six';
    const errors = await errorsOf(broken);
    expect(errors.join('\n')).toMatch(/version/);
    expect(errors.join('\n')).toMatch(/partitions/);
  });

  it('has a message for every integration event type, on the topic of its role, keyed by an account id', async () => {
    const model = await parsed(document);
    expect(
      model
        .messages()
        .all()
        .map((m) => m.name())
        .sort(),
    ).toEqual([...integrationEventTypes].sort());
    for (const type of integrationEventTypes) {
      const channel = model.channels().get(integrationEvents[type].topic);
      expect({ type, inChannel: channel?.messages().has(type) }).toEqual({ type, inChannel: true });
      const key = model.messages().get(type)?.bindings().get('kafka')?.value()?.key;
      expect({ type, key: key?.type }).toEqual({ type, key: 'string' });
    }
  });

  it('describes the default topics, partitions and source when the bridge is off', async () => {
    const model = await parsed(document);
    const channels = model
      .channels()
      .all()
      .map((c) => ({ id: c.id(), address: c.address(), kafka: c.bindings().get('kafka')?.value() }));
    expect(channels).toEqual([
      {
        id: 'transfers',
        address: defaultTopics.transfers,
        kafka: expect.objectContaining({ topic: 'ledger.transfers' }),
      },
      { id: 'accounts', address: defaultTopics.accounts, kafka: expect.objectContaining({ topic: 'ledger.accounts' }) },
    ]);
    for (const channel of channels) expect(channel.kafka?.partitions).toBe(defaultPartitions);
    expect(model.servers().all()).toEqual([]);
    const committed = model.messages().get('ledger.transfer.committed.v1');
    expect(committed?.headers()?.properties()?.ce_source?.const()).toBe(defaultCloudEventsSource);
  });

  it("has an example of each message, valid against the message's headers and payload", async () => {
    const model = await parsed(document);
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats(ajv);
    for (const message of model.messages().all()) {
      const type = message.name();
      const examples = message.examples().all();
      expect({ type, examples: examples.length }).toEqual({ type, examples: 1 });
      const validPayload = ajv.compile(message.payload()!.json());
      const validHeaders = ajv.compile(message.headers()!.json());
      for (const example of examples) {
        validPayload(example.payload());
        validHeaders(example.headers());
        expect({ type, payload: validPayload.errors ?? [], headers: validHeaders.errors ?? [] }).toEqual({
          type,
          payload: [],
          headers: [],
        });
        expect({ type, ce_type: example.headers()?.ce_type }).toEqual({ type, ce_type: type });
      }
      // The schemas can refuse: the same example with its amount as a number is invalid.
      const payload = examples[0].payload() as Json;
      const broken =
        'balance' in payload
          ? { ...payload, balance: { ...payload.balance, posted: 87.5 } }
          : { ...payload, amount: 12.5 };
      expect({ type, valid: validPayload(broken) }).toEqual({ type, valid: false });
    }
  });

  it('describes the configured bridge: its topics, source and types, never its brokers', async () => {
    const bridge: BridgeSettings = {
      brokers: ['kafka-1:9092', 'kafka-2:9092'],
      clientId: 'ledger',
      topics: { transfers: 'payments.transfers', accounts: 'payments.accounts' },
      partitions: 12,
      replicationFactor: 3,
      eventTypes: ['ledger.transfer.committed.v1', 'ledger.transfer.rejected.v1'],
      source: '/ledger/eu-1',
    };
    const app = createApp({
      store: api.ledger.store,
      pool: api.ledger.db.pool,
      transfers: api.ledger.transfers,
      logger: testLogger,
      bridge,
    });
    const res = await request(app).get('/asyncapi.json');
    expect(res.status).toBe(200);
    expect(await errorsOf(res.body)).toEqual([]);
    const model = await parsed(res.body);
    // The document is public: the brokers' addresses stay out of it.
    expect(model.servers().all()).toEqual([]);
    expect(JSON.stringify(res.body)).not.toContain('kafka-1');
    // No type of the accounts' topic is published: the document has no channel for it.
    expect(
      model
        .channels()
        .all()
        .map((c) => [c.address(), c.bindings().get('kafka')?.value().partitions]),
    ).toEqual([['payments.transfers', 12]]);
    expect(
      model
        .messages()
        .all()
        .map((m) => m.name()),
    ).toEqual(bridge.eventTypes);
    const rejected = model.messages().get('ledger.transfer.rejected.v1');
    expect(rejected?.headers()?.properties()?.ce_source?.const()).toBe('/ledger/eu-1');
    expect(rejected?.examples().all()[0].headers()?.ce_source).toBe('/ledger/eu-1');
  });
});
