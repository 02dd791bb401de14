/**
 * The integration events: the public contract of what the ledger publishes on Kafka. One
 * entry per type, with the zod schema its data is built with, the topic it goes to and
 * what it means. The bridge validates every message against these before producing it;
 * the JSON Schemas and the AsyncAPI document are generated from the same entries.
 *
 * The data reuse the API's shapes (Account, Balance, Transfer), so a consumer reads the
 * same fields from a message as from GET /v1/...: it never needs to call back. Domain
 * events are never published as they are: the model inside may change, this may not
 * (a breaking change is a new `.v2` type, published beside the old one).
 */
import { z } from 'zod';
import { account, amountText, balance, transfer } from '../api/responses';
import { transferId } from '../api/schemas';

/** Which of the bridge's two topics a type goes to. */
export type TopicRole = 'transfers' | 'accounts';

export const balanceMovements = ['held', 'released', 'debited', 'credited'] as const;
export type BalanceMovement = (typeof balanceMovements)[number];

export const balanceChanged = balance
  .extend({
    transferId: transferId.meta({ description: 'The transfer whose step changed the balance.' }),
    movement: z.enum(balanceMovements).meta({
      description:
        'What happened: held (a hold placed: held up), released (a hold let go: held down), ' +
        'debited (a hold captured: posted and held down, and any rest of the hold released), credited (posted up).',
    }),
    amount: amountText.meta({ description: 'The amount held, released, debited or credited.' }),
    released: amountText.optional().meta({
      description: 'debited only, for a partial commit: the rest of the hold released with the debit.',
    }),
  })
  .meta({
    description:
      'The balance after the change (posted, held, available; asOf and position: when and at which ' +
      'event-store position), and the transfer that changed it.',
  });

interface IntegrationEventSpec {
  topic: TopicRole;
  data: z.ZodType;
  summary: string;
}

const accountMessage = (summary: string): IntegrationEventSpec => ({ topic: 'accounts', data: account, summary });
const transferMessage = (summary: string): IntegrationEventSpec => ({ topic: 'transfers', data: transfer, summary });

/** Every type the bridge can publish. */
export const integrationEvents = {
  'ledger.account.opened.v1': accountMessage('An account was opened. Data: the Account as the API shows it then.'),
  'ledger.account.frozen.v1': accountMessage('An account was frozen: it neither sends nor receives.'),
  'ledger.account.unfrozen.v1': accountMessage('A frozen account was opened again.'),
  'ledger.account.closed.v1': accountMessage('An account was closed, for good.'),
  'ledger.account.balance-changed.v1': {
    topic: 'accounts',
    data: balanceChanged,
    summary: "An account's balance changed: a hold placed or released, a debit or a credit.",
  },
  'ledger.transfer.requested.v1': transferMessage('A transfer was accepted. Data: the Transfer as the API shows it.'),
  'ledger.transfer.held.v1': transferMessage("The source's funds are held for the transfer (HELD)."),
  'ledger.transfer.credited.v1': transferMessage('The destination was credited (CREDITED).'),
  'ledger.transfer.committed.v1': transferMessage('The transfer is done (COMMITTED): terminal.'),
  'ledger.transfer.rejected.v1': transferMessage('The transfer was refused (REJECTED, with its reason): terminal.'),
  'ledger.transfer.cancelled.v1': transferMessage(
    'The transfer was cancelled (CANCELLED: VOIDED, EXPIRED or CREDIT_FAILED); its hold is released: terminal.',
  ),
} as const satisfies Record<string, IntegrationEventSpec>;

export type IntegrationEventType = keyof typeof integrationEvents;
export const integrationEventTypes = Object.keys(integrationEvents) as IntegrationEventType[];

export function isIntegrationEventType(type: string): type is IntegrationEventType {
  return Object.hasOwn(integrationEvents, type);
}

/** The headers every message carries besides the CloudEvents ones (all strings). */
export const ledgerHeaders = {
  stream: 'ledger_stream',
  revision: 'ledger_revision',
  position: 'ledger_position',
} as const;

/** The CloudEvents version the messages follow (Kafka protocol binding, binary mode). */
export const cloudEventsSpecVersion = '1.0';
