/**
 * JSON Schemas of the integration events' data, generated from the zod schemas of
 * messages.ts: one standalone schema per type (committed as schemas/events/<type>.json by
 * `npm run schemas`, so a consumer validates messages without running the ledger), and the
 * named schemas the AsyncAPI document shares between its messages. The shapes that recur
 * (an amount, a currency, a transfer) are named once and referenced; the rest is inlined.
 */
import { z } from 'zod';
import * as responses from '../api/responses';
import * as schemas from '../api/schemas';
import { balanceChanged, integrationEvents, type IntegrationEventType, integrationEventTypes } from './messages';

type Json = Record<string, unknown>;

/** The schemas the documents name, in the order they list them. */
const namedSchemas: Readonly<Record<string, z.ZodType>> = {
  Transfer: responses.transfer,
  Account: responses.account,
  BalanceChanged: balanceChanged,
  Balance: responses.balance,
  TransferStep: responses.transferStep,
  AccountId: schemas.accountId,
  TransferId: schemas.transferId,
  CurrencyCode: schemas.currencyCode,
  Amount: responses.amountText,
  Timestamp: responses.timestamp,
  LedgerPosition: responses.ledgerPosition,
  TransferMode: schemas.transferMode,
  TransferStatus: schemas.transferStatus,
  TransferReason: responses.transferReason,
};

const names = z.registry<{ id: string }>();
for (const [id, schema] of Object.entries(namedSchemas)) names.add(schema, { id });

/** The JSON Schema dialects the documents use: 2020-12 for the files, draft-07 for AsyncAPI 3. */
export type SchemaDialect = 'draft-2020-12' | 'draft-7';

/**
 * Every named schema in `dialect`, referring to the others through `uri(name)`. zod's
 * per-schema `$schema` and `$id` are dropped: where they are placed says both.
 */
export function namedEventSchemas(dialect: SchemaDialect, uri: (name: string) => string): Record<string, Json> {
  const { schemas: converted } = z.toJSONSchema(names, {
    target: dialect,
    // The data as the bridge produces it (the API's response shapes have no transforms).
    io: 'output',
    // A shape JSON Schema cannot say (a bigint, a custom check) must fail loudly, not vanish.
    unrepresentable: 'throw',
    uri,
  });
  // zod extracts what it cannot inline (a recursive schema) into a "__shared" pseudo-schema.
  if ('__shared' in converted) throw new Error('a schema zod had to extract: name it in namedSchemas');
  return Object.fromEntries(
    Object.keys(namedSchemas).map((name) => {
      const { $schema: _schema, $id: _id, ...schema } = converted[name] as Json;
      return [name, schema];
    }),
  );
}

/** The name of a type's data schema: every type's data is one of the named schemas. */
export function dataSchemaName(type: IntegrationEventType): string {
  const name = names.get(integrationEvents[type].data)?.id;
  if (name === undefined) throw new Error(`the data of ${type} is not a named schema: name it in namedSchemas`);
  return name;
}

/** The `$id` of a type's standalone schema. */
export const eventSchemaId = (type: IntegrationEventType) => `urn:ledger:event:${type}`;

const defsPrefix = '#/$defs/';

/** The named schemas `schema` refers to, directly or through one another. */
function referencedNames(schema: unknown, defs: Record<string, Json>, found = new Set<string>()): Set<string> {
  if (Array.isArray(schema)) {
    for (const item of schema) referencedNames(item, defs, found);
  } else if (typeof schema === 'object' && schema !== null) {
    for (const [key, value] of Object.entries(schema)) {
      if (key === '$ref' && typeof value === 'string') {
        const name = value.slice(defsPrefix.length);
        if (!value.startsWith(defsPrefix) || !(name in defs)) throw new Error(`an unresolvable reference ${value}`);
        if (!found.has(name)) {
          found.add(name);
          referencedNames(defs[name], defs, found);
        }
      } else {
        referencedNames(value, defs, found);
      }
    }
  }
  return found;
}

/**
 * One standalone JSON Schema (draft 2020-12) per integration event type: its data inline,
 * with the named schemas it uses under `$defs`.
 */
export function integrationEventJsonSchemas(): Record<IntegrationEventType, Json> {
  const defs = namedEventSchemas('draft-2020-12', (name) => `${defsPrefix}${name}`);
  const entries = integrationEventTypes.map((type): [IntegrationEventType, Json] => {
    const { description, ...data } = defs[dataSchemaName(type)];
    const used = referencedNames(data, defs);
    const summary = integrationEvents[type].summary;
    return [
      type,
      {
        $schema: 'https://json-schema.org/draft/2020-12/schema',
        $id: eventSchemaId(type),
        title: type,
        description: typeof description === 'string' ? `${summary} ${description}` : summary,
        ...data,
        $defs: Object.fromEntries(Object.keys(defs).flatMap((name) => (used.has(name) ? [[name, defs[name]]] : []))),
      },
    ];
  });
  return Object.fromEntries(entries) as Record<IntegrationEventType, Json>;
}
