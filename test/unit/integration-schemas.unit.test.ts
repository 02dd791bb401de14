/**
 * The JSON Schemas of the integration events: the committed copies in schemas/events/ are
 * what the code generates now, one file per type and nothing else; each schema is valid
 * draft 2020-12, accepts the data the bridge produces and refuses what zod refuses.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { exampleMessage } from '../../src/integration/asyncapi';
import { eventSchemaId, integrationEventJsonSchemas } from '../../src/integration/json-schemas';
import { type IntegrationEventType, integrationEvents, integrationEventTypes } from '../../src/integration/messages';

const schemaDirectory = path.resolve(__dirname, '../../schemas/events');
const generated = integrationEventJsonSchemas();

describe('schemas/events/', () => {
  it('is what the code generates now: one file per type, and nothing else', () => {
    const files = readdirSync(schemaDirectory);
    const wanted = integrationEventTypes.map((type) => `${type}.json`);
    const problems = [
      ...wanted.filter((file) => !files.includes(file)).map((file) => `${file} is missing`),
      ...files.filter((file) => !wanted.includes(file)).map((file) => `${file} is of no type`),
      ...integrationEventTypes
        .filter((type) => files.includes(`${type}.json`))
        .filter((type) => {
          const committed: unknown = JSON.parse(readFileSync(path.join(schemaDirectory, `${type}.json`), 'utf8'));
          return !isDeepStrictEqual(committed, generated[type]);
        })
        .map((type) => `${type}.json is out of date`),
    ];
    if (problems.length > 0) throw new Error(`schemas/events/: ${problems.join('; ')}. Run npm run schemas.`);
  });
});

// ---- samples: the AsyncAPI document's examples, and ways to break them ---------------

type Sample = Record<string, unknown>;

/** A valid sample of each type's data (its example, which is built as the bridge builds messages), and broken ones. */
function samplesOf(type: IntegrationEventType): { valid: Sample; broken: Record<string, Sample> } {
  const valid = exampleMessage(type, '/ledger').value as Sample;
  if (type === 'ledger.account.balance-changed.v1') {
    return {
      valid,
      broken: {
        'an amount as a number': { ...valid, amount: 12.5 },
        'an unknown movement': { ...valid, movement: 'moved' },
        'no transferId': { ...valid, transferId: undefined },
      },
    };
  }
  if (integrationEvents[type].topic === 'accounts') {
    return {
      valid,
      broken: {
        'a balance amount as a number': { ...valid, balance: { ...(valid.balance as Sample), posted: 87.5 } },
        'an unknown status': { ...valid, status: 'dormant' },
        'a field more': { ...valid, owner: 'alice' },
      },
    };
  }
  return {
    valid,
    broken: {
      'an amount as a number': { ...valid, amount: 12.5 },
      'a currency that is not ISO 4217': { ...valid, currency: 'EURO' },
      'a time that is not RFC 3339': { ...valid, updatedAt: '14/03/2025 10:30' },
      'a field more': { ...valid, fee: '0.10' },
    },
  };
}

const withoutUndefined = (sample: Sample) => JSON.parse(JSON.stringify(sample)) as Sample;

describe.each(integrationEventTypes)('the JSON Schema of %s', (type) => {
  const schema = generated[type];
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  addFormats(ajv);
  const validate = ajv.compile(schema);
  const { valid, broken } = samplesOf(type);

  it('names itself', () => {
    expect(schema).toMatchObject({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      $id: eventSchemaId(type),
      title: type,
    });
  });

  it('accepts the data the bridge produces, as zod does', () => {
    expect(integrationEvents[type].data.safeParse(valid).error?.issues ?? []).toEqual([]);
    validate(valid);
    expect(validate.errors ?? []).toEqual([]);
  });

  it.each(Object.keys(broken))('refuses %s, as zod does', (how) => {
    const sample = withoutUndefined(broken[how]);
    expect(integrationEvents[type].data.safeParse(sample).success).toBe(false);
    expect(validate(sample)).toBe(false);
  });
});
