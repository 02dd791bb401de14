/**
 * Versioned schema migrations: the one mechanism for every table the project owns.
 * Append new entries; never edit an applied one.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Any constant works; it only has to be the same for every process of the ledger. */
export const positionLockKey = 7_245_031_001;

const eventStore = `
create sequence ledger_position_seq as bigint minvalue 1 start 1;

create table ledger_streams (
  stream_name text primary key,
  revision    bigint not null
);

create table ledger_events (
  position       bigint primary key,
  transaction_id xid8 not null,
  event_id       uuid not null,
  stream_name    text not null,
  revision       bigint not null,
  type           text not null,
  data           jsonb not null,
  metadata       jsonb not null,
  created_at     timestamptz not null default now(),
  constraint ledger_events_event_id_key unique (event_id),
  constraint ledger_events_stream_revision_key unique (stream_name, revision)
);

-- Positions are handed out under a short advisory lock, and the transaction's id is
-- assigned under that same lock. So among event-writing transactions, a higher position
-- always means a higher transaction id, and a reader that stops before the first row
-- whose transaction id is not below its snapshot's xmin never passes a position that a
-- transaction still in flight could fill in later. The lock is held for microseconds,
-- not until commit, so writers still commit (and fsync) in parallel.
create function ledger_allocate_positions(p_count int) returns bigint
language plpgsql as $fn$
declare
  v_first bigint;
begin
  if pg_current_xact_id_if_assigned() is not null then
    raise exception 'positions must be allocated by the first write of a transaction'
      using errcode = 'LE002';
  end if;
  perform pg_advisory_lock(${positionLockKey});
  begin
    perform pg_current_xact_id();
    v_first := nextval('ledger_position_seq');
    if p_count > 1 then
      perform setval('ledger_position_seq', v_first + p_count - 1, true);
    end if;
  exception when others or query_canceled then
    perform pg_advisory_unlock(${positionLockKey});
    raise;
  end;
  perform pg_advisory_unlock(${positionLockKey});
  return v_first;
end
$fn$;

-- o_done when the stream holds every one of p_ids (an append being retried); then
-- o_revision/o_position are that earlier append's result. Some but not all: a conflict.
create function ledger_already_appended(p_stream text, p_expected text, p_ids uuid[],
                                        out o_done boolean, out o_revision bigint, out o_position bigint)
language plpgsql as $fn$
declare
  v_found int;
  v_actual bigint;
begin
  select count(*), max(e.revision), max(e.position) into v_found, o_revision, o_position
    from ledger_events e where e.event_id = any(p_ids) and e.stream_name = p_stream;
  o_done := v_found = coalesce(array_length(p_ids, 1), 0);
  if o_done then return; end if;
  if v_found > 0 then
    select s.revision into v_actual from ledger_streams s where s.stream_name = p_stream;
    raise exception 'some but not all events are already in stream %', p_stream
      using errcode = 'LE001', detail = json_build_object('stream', p_stream,
        'expected', p_expected, 'actual', coalesce(v_actual::text, 'no_stream'))::text;
  end if;
end
$fn$;

-- Appends to one or more streams atomically. Event k of the flat arrays belongs to stream
-- p_stream_index[k] (1-based, each stream's events contiguous); p_expected[i] is
-- 'no_stream', 'stream_exists', 'any' or a revision. Re-appending events whose ids a stream
-- already holds answers from the store without writing: the caller asks for that check
-- (p_check_existing) after a duplicate-id violation, and a revision conflict always makes it.
create function ledger_append(
  p_streams text[], p_expected text[], p_stream_index int[],
  p_ids uuid[], p_types text[], p_data jsonb[], p_metadata jsonb[], p_check_existing boolean
) returns table (stream_name text, next_revision bigint, last_position bigint)
language plpgsql as $fn$
declare
  v_stream_count int := coalesce(array_length(p_streams, 1), 0);
  v_counts int[] := array_fill(0, array[v_stream_count]);
  v_first_k int[] := array_fill(0, array[v_stream_count]);
  v_done boolean[] := array_fill(false, array[v_stream_count]);
  v_result_revision bigint[] := array_fill(null::bigint, array[v_stream_count]);
  v_result_position bigint[] := array_fill(null::bigint, array[v_stream_count]);
  v_pos_start bigint[] := array_fill(null::bigint, array[v_stream_count]);
  v_rev_start bigint[] := array_fill(null::bigint, array[v_stream_count]);
  v_to_write int := 0;
  v_next_position bigint;
  v_new_revision bigint;
  v_actual bigint;
  v_chk_done boolean;
  v_chk_revision bigint;
  v_chk_position bigint;
  v_n int;
  k int;
  i int;
begin
  for k in 1 .. coalesce(array_length(p_stream_index, 1), 0) loop
    i := p_stream_index[k];
    if v_counts[i] = 0 then v_first_k[i] := k; end if;
    v_counts[i] := v_counts[i] + 1;
  end loop;

  for i in 1 .. v_stream_count loop
    if p_check_existing then
      select a.o_done, a.o_revision, a.o_position into v_chk_done, v_chk_revision, v_chk_position
        from ledger_already_appended(p_streams[i], p_expected[i],
                                     p_ids[v_first_k[i] : v_first_k[i] + v_counts[i] - 1]) a;
      v_done[i] := v_chk_done;
      v_result_revision[i] := v_chk_revision;
      v_result_position[i] := v_chk_position;
    end if;
    if not v_done[i] then v_to_write := v_to_write + v_counts[i]; end if;
  end loop;

  if v_to_write > 0 then
    v_next_position := ledger_allocate_positions(v_to_write);
  end if;

  for i in 1 .. v_stream_count loop
    continue when v_done[i];
    v_n := v_counts[i];
    v_new_revision := null;
    if p_expected[i] = 'no_stream' then
      insert into ledger_streams as s (stream_name, revision) values (p_streams[i], v_n - 1)
        on conflict do nothing returning s.revision into v_new_revision;
    elsif p_expected[i] = 'any' then
      insert into ledger_streams as s (stream_name, revision) values (p_streams[i], v_n - 1)
        on conflict on constraint ledger_streams_pkey do update set revision = s.revision + v_n
        returning s.revision into v_new_revision;
    elsif p_expected[i] = 'stream_exists' then
      update ledger_streams s set revision = s.revision + v_n
       where s.stream_name = p_streams[i] returning s.revision into v_new_revision;
    else
      update ledger_streams s set revision = s.revision + v_n
       where s.stream_name = p_streams[i] and s.revision = p_expected[i]::bigint
      returning s.revision into v_new_revision;
    end if;

    if v_new_revision is null then
      select a.o_done, a.o_revision, a.o_position into v_chk_done, v_chk_revision, v_chk_position
        from ledger_already_appended(p_streams[i], p_expected[i], p_ids[v_first_k[i] : v_first_k[i] + v_n - 1]) a;
      if v_chk_done then
        v_done[i] := true;
        v_result_revision[i] := v_chk_revision;
        v_result_position[i] := v_chk_position;
        continue;
      end if;
      select s.revision into v_actual from ledger_streams s where s.stream_name = p_streams[i];
      raise exception 'wrong expected revision for stream %', p_streams[i]
        using errcode = 'LE001', detail = json_build_object('stream', p_streams[i],
          'expected', p_expected[i], 'actual', coalesce(v_actual::text, 'no_stream'))::text;
    end if;

    v_pos_start[i] := v_next_position;
    v_rev_start[i] := v_new_revision - v_n + 1;
    v_result_revision[i] := v_new_revision;
    v_result_position[i] := v_next_position + v_n - 1;
    v_next_position := v_next_position + v_n;
  end loop;

  insert into ledger_events (position, transaction_id, event_id, stream_name, revision, type, data, metadata)
  select v_pos_start[u.si] + (u.k - v_first_k[u.si]), pg_current_xact_id(), u.id, p_streams[u.si],
         v_rev_start[u.si] + (u.k - v_first_k[u.si]), u.t, u.d, u.m
    from unnest(p_stream_index, p_ids, p_types, p_data, p_metadata) with ordinality as u(si, id, t, d, m, k)
   where not v_done[u.si];

  for i in 1 .. v_stream_count loop
    stream_name := p_streams[i];
    next_revision := v_result_revision[i];
    last_position := v_result_position[i];
    return next;
  end loop;
end
$fn$;
`;

const processState = `
-- Where each checkpointed subscriber (transfer process, projections, bridge) has got to.
create table ledger_checkpoints (
  name       text primary key,
  position   bigint not null,
  updated_at timestamptz not null default now()
);

-- Pending transfers waiting in HELD, with the instant they expire: the transfer process's
-- own index, so expiry needs no scan of the event store.
create table ledger_pending_expiries (
  transfer_id text primary key,
  expires_at  timestamptz not null
);
create index ledger_pending_expiries_due on ledger_pending_expiries (expires_at);
`;

const leases = `
-- One owner at a time for work that must not run twice (a projection, the transfer
-- process). A row lease with an expiry rather than an advisory lock, so it also works
-- through a transaction-pooling connection pooler; a holder that dies stops renewing.
create table ledger_leases (
  name       text primary key,
  owner      text not null,
  expires_at timestamptz not null
);
`;

const readModels = `
-- Read models, written only by their projections (src/projections). A replay rebuilds each
-- table as <name>__next (CREATE TABLE ... LIKE, so it has these columns and indexes) and
-- swaps it in by renaming.
create table rm_accounts (
  id              text primary key,
  currency        text not null,
  status          text not null,
  overdraft_kind  text not null,
  overdraft_limit bigint,
  metadata        jsonb not null,
  posted          bigint not null,
  held            bigint not null,
  created_at      timestamptz not null,
  updated_at      timestamptz not null,
  version         bigint not null,
  position        bigint not null
);
create index rm_accounts_created on rm_accounts (created_at, id);

-- The statement: one row per debit or credit, with the posted balance after it.
create table rm_account_entries (
  account_id    text not null,
  position      bigint not null,
  transfer_id   text not null,
  direction     text not null,
  amount        bigint not null,
  balance_after bigint not null,
  at            timestamptz not null,
  primary key (account_id, position)
);

create table rm_transfers (
  id                  text primary key,
  source_account      text not null,
  destination_account text not null,
  amount              bigint not null,
  currency            text not null,
  mode                text not null,
  status              text not null,
  reason              text,
  description         text,
  metadata            jsonb,
  committed_amount    bigint,
  steps               jsonb not null,
  created_at          timestamptz not null,
  updated_at          timestamptz not null,
  expires_at          timestamptz,
  version             bigint not null,
  position            bigint not null
);
create index rm_transfers_created on rm_transfers (created_at desc, id desc);
create index rm_transfers_source on rm_transfers (source_account, created_at desc, id desc);
create index rm_transfers_destination on rm_transfers (destination_account, created_at desc, id desc);
create index rm_transfers_status on rm_transfers (status, created_at desc, id desc);
`;

const setBasedAppend = `
-- ledger_append, version 2: the same contract as version 1 (see there), faster for large
-- appends. Event data and metadata arrive as two JSON arrays (one text parameter each,
-- cheap to build and parse) instead of arrays of JSON texts, and streams with an exact
-- expected revision or "no stream" are written with one statement for all of them instead
-- of one per stream. Positions are still allocated first, under the advisory lock, before
-- anything else in the transaction writes (see ledger_allocate_positions).
drop function ledger_append(text[], text[], int[], uuid[], text[], jsonb[], jsonb[], boolean);

create function ledger_append(
  p_streams text[], p_expected text[], p_stream_index int[],
  p_ids uuid[], p_types text[], p_data jsonb, p_metadata jsonb, p_check_existing boolean
) returns table (stream_name text, next_revision bigint, last_position bigint)
language plpgsql as $fn$
declare
  v_stream_count int := coalesce(array_length(p_streams, 1), 0);
  v_counts int[] := array_fill(0, array[v_stream_count]);
  v_first_k int[] := array_fill(0, array[v_stream_count]);
  v_done boolean[] := array_fill(false, array[v_stream_count]);
  v_new_revision bigint[] := array_fill(null::bigint, array[v_stream_count]);
  v_result_revision bigint[] := array_fill(null::bigint, array[v_stream_count]);
  v_result_position bigint[] := array_fill(null::bigint, array[v_stream_count]);
  v_pos_start bigint[] := array_fill(null::bigint, array[v_stream_count]);
  v_rev_start bigint[] := array_fill(null::bigint, array[v_stream_count]);
  v_to_write int := 0;
  v_next_position bigint;
  v_actual bigint;
  v_chk_done boolean;
  v_chk_revision bigint;
  v_chk_position bigint;
  v_n int;
  v_row record;
  k int;
  i int;
begin
  for k in 1 .. coalesce(array_length(p_stream_index, 1), 0) loop
    i := p_stream_index[k];
    if v_counts[i] = 0 then v_first_k[i] := k; end if;
    v_counts[i] := v_counts[i] + 1;
  end loop;

  for i in 1 .. v_stream_count loop
    if p_check_existing then
      select a.o_done, a.o_revision, a.o_position into v_chk_done, v_chk_revision, v_chk_position
        from ledger_already_appended(p_streams[i], p_expected[i],
                                     p_ids[v_first_k[i] : v_first_k[i] + v_counts[i] - 1]) a;
      v_done[i] := v_chk_done;
      v_result_revision[i] := v_chk_revision;
      v_result_position[i] := v_chk_position;
    end if;
    if not v_done[i] then v_to_write := v_to_write + v_counts[i]; end if;
  end loop;

  if v_to_write > 0 then
    v_next_position := ledger_allocate_positions(v_to_write);
  end if;

  -- Exact revisions and "no stream", every such stream in one statement each.
  for v_row in
    update ledger_streams s set revision = s.revision + v_counts[c.i]
      from unnest(p_streams, p_expected) with ordinality as c(name, expected, i)
     where s.stream_name = c.name and not v_done[c.i]
       and s.revision = case when c.expected ~ '^[0-9]+$' then c.expected::bigint end
    returning c.i, s.revision
  loop
    v_new_revision[v_row.i] := v_row.revision;
  end loop;
  for v_row in
    with created as (
      insert into ledger_streams as s (stream_name, revision)
      select c.name, v_counts[c.i] - 1
        from unnest(p_streams, p_expected) with ordinality as c(name, expected, i)
       where c.expected = 'no_stream' and not v_done[c.i]
      on conflict do nothing
      returning s.stream_name, s.revision
    )
    select c.i, created.revision
      from created join unnest(p_streams) with ordinality as c(name, i) on c.name = created.stream_name
  loop
    v_new_revision[v_row.i] := v_row.revision;
  end loop;

  for i in 1 .. v_stream_count loop
    continue when v_done[i];
    v_n := v_counts[i];
    if p_expected[i] = 'any' then
      insert into ledger_streams as s (stream_name, revision) values (p_streams[i], v_n - 1)
        on conflict on constraint ledger_streams_pkey do update set revision = s.revision + v_n
        returning s.revision into v_actual;
      v_new_revision[i] := v_actual;
    elsif p_expected[i] = 'stream_exists' then
      update ledger_streams s set revision = s.revision + v_n
       where s.stream_name = p_streams[i] returning s.revision into v_actual;
      v_new_revision[i] := v_actual;
    end if;

    if v_new_revision[i] is null then
      select a.o_done, a.o_revision, a.o_position into v_chk_done, v_chk_revision, v_chk_position
        from ledger_already_appended(p_streams[i], p_expected[i], p_ids[v_first_k[i] : v_first_k[i] + v_n - 1]) a;
      if v_chk_done then
        v_done[i] := true;
        v_result_revision[i] := v_chk_revision;
        v_result_position[i] := v_chk_position;
        continue;
      end if;
      select s.revision into v_actual from ledger_streams s where s.stream_name = p_streams[i];
      raise exception 'wrong expected revision for stream %', p_streams[i]
        using errcode = 'LE001', detail = json_build_object('stream', p_streams[i],
          'expected', p_expected[i], 'actual', coalesce(v_actual::text, 'no_stream'))::text;
    end if;

    v_pos_start[i] := v_next_position;
    v_rev_start[i] := v_new_revision[i] - v_n + 1;
    v_result_revision[i] := v_new_revision[i];
    v_result_position[i] := v_next_position + v_n - 1;
    v_next_position := v_next_position + v_n;
  end loop;

  insert into ledger_events (position, transaction_id, event_id, stream_name, revision, type, data, metadata)
  select v_pos_start[u.si] + (u.k - v_first_k[u.si]), pg_current_xact_id(), u.id, p_streams[u.si],
         v_rev_start[u.si] + (u.k - v_first_k[u.si]), u.t, u.d, u.m
    from rows from (unnest(p_stream_index), unnest(p_ids), unnest(p_types),
                    jsonb_array_elements(p_data), jsonb_array_elements(p_metadata)) with ordinality as u(si, id, t, d, m, k)
   where not v_done[u.si];

  for i in 1 .. v_stream_count loop
    stream_name := p_streams[i];
    next_revision := v_result_revision[i];
    last_position := v_result_position[i];
    return next;
  end loop;
end
$fn$;
`;

const bridgeStatus = `
-- What the Kafka bridge's owner last saw of the broker, for operators (health, admin view).
-- Written when the broker's state changes, not per batch; the checkpoint and the lease say the rest.
create table ledger_bridge_status (
  name          text primary key,
  owner         text not null,
  broker_up     boolean not null,
  last_error    text,
  last_error_at timestamptz,
  updated_at    timestamptz not null default now()
);
`;

const reconciliation = `
-- The reconciler's runs (src/jobs): one row per run of a job, written when it starts and
-- when it ends, with what it counted and the problems it found (the first 100; the total
-- says how many there were). A run whose worker died stays 'running' until a retry of the
-- same BullMQ job marks it 'abandoned'.
create table ledger_reconcile_runs (
  id             bigserial primary key,
  job            text not null,
  trigger        text not null,
  queue_job_id   text,
  started_at     timestamptz not null default now(),
  finished_at    timestamptz,
  outcome        text not null,
  counts         jsonb not null default '{}',
  problems       jsonb not null default '[]',
  problems_total integer not null default 0,
  error          text
);
create index ledger_reconcile_runs_recent on ledger_reconcile_runs (started_at desc, id desc);
create index ledger_reconcile_runs_job on ledger_reconcile_runs (job, started_at desc, id desc);
create index ledger_reconcile_runs_queue_job on ledger_reconcile_runs (queue_job_id) where queue_job_id is not null;

-- Where a job that covers the ledger a slice per run (balance verification) goes on from.
create table ledger_reconcile_cursors (
  job        text primary key,
  cursor     text not null,
  updated_at timestamptz not null default now()
);

-- Pending transfers now expire through delayed jobs scheduled from the event store, with a
-- backstop sweep over the transfers read model: the process's own index goes.
drop table ledger_pending_expiries;

-- The backstop sweep and the expiring-holds report read pending transfers by expiry.
create index rm_transfers_expiring on rm_transfers (expires_at) where status = 'HELD' and expires_at is not null;
`;

export const migrations: readonly Migration[] = [
  { version: 1, name: 'event store', sql: eventStore },
  { version: 2, name: 'transfer process state', sql: processState },
  { version: 3, name: 'leases', sql: leases },
  { version: 4, name: 'read models', sql: readModels },
  { version: 5, name: 'set-based append', sql: setBasedAppend },
  { version: 6, name: 'bridge status', sql: bridgeStatus },
  { version: 7, name: 'reconciliation', sql: reconciliation },
];
