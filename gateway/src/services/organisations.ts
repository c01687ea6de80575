/**
 * Organisations (issue 16; migration 007): who a counter credential works for, with its channel
 * kind (services/channel-rules.ts). A partner-bank branch names its bank (one of the 15 of q5)
 * and its branch id; other kinds name no bank. Operators create them (POST /v1/organisations,
 * `gateway org create`) and issue counter tokens for them.
 */
import { ApiError, registerErrorCodes } from '../http/problem.ts';
import type { Tx } from '../store/store-port.ts';
import { CHANNEL_KINDS, type ChannelKind } from './channel-rules.ts';
import { DEFAULT_ISSUING_BANK, isPartnerBankId } from './partner-banks.ts';

registerErrorCodes({
  'organisation-not-found': { status: 404, title: 'No such organisation' },
  'organisation-exists': { status: 409, title: 'An organisation with this id exists' },
});

/** Organisation ids: letters, digits, '.', '_', '-' (1-64); wire values, never renamed. */
export const ORGANISATION_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';

export interface OrganisationRow {
  id: string;
  name: string;
  channelKind: ChannelKind;
  bankId: string | null;
  branchId: string | null;
  createdBy: string;
  createdMs: number;
}

export interface NewOrganisation {
  id: string;
  name: string;
  channelKind: ChannelKind;
  bankId?: string | null;
  branchId?: string | null;
}

type Raw = Record<string, string | number | bigint | null>;

function fromRow(r: Raw): OrganisationRow {
  return {
    id: String(r.id),
    name: String(r.name),
    channelKind: String(r.channel_kind) as ChannelKind,
    bankId: r.bank_id === null ? null : String(r.bank_id),
    branchId: r.branch_id === null ? null : String(r.branch_id),
    createdBy: String(r.created_by),
    createdMs: Number(r.created_ms),
  };
}

const COLUMNS = 'id, name, channel_kind, bank_id, branch_id, created_by, created_ms';

export async function findOrganisation(tx: Tx, id: string): Promise<OrganisationRow | null> {
  const row = await tx.get<Raw>(`SELECT ${COLUMNS} FROM organisations WHERE id = ?`, [id]);
  return row ? fromRow(row) : null;
}

export async function requireOrganisation(tx: Tx, id: string): Promise<OrganisationRow> {
  const org = await findOrganisation(tx, id);
  if (!org) throw new ApiError('organisation-not-found', `no organisation ${id}`);
  return org;
}

export async function listOrganisations(tx: Tx): Promise<OrganisationRow[]> {
  return (await tx.all<Raw>(`SELECT ${COLUMNS} FROM organisations ORDER BY id`)).map(fromRow);
}

/** Checks the shape rules the table's CHECK also holds, with words: a bank branch names its bank and branch; no other kind names a bank. */
export function validateOrganisation(input: NewOrganisation): void {
  if (!new RegExp(ORGANISATION_ID_PATTERN).test(input.id))
    throw new ApiError('invalid-request', `organisation id ${JSON.stringify(input.id)} must match ${ORGANISATION_ID_PATTERN}`);
  if (!CHANNEL_KINDS.includes(input.channelKind)) throw new ApiError('invalid-request', `channelKind must be one of ${CHANNEL_KINDS.join(', ')}`);
  if (input.channelKind === 'bank-branch') {
    if (!input.bankId || !isPartnerBankId(input.bankId))
      throw new ApiError('invalid-request', 'a partner-bank branch names its bank: one of the 15 partner banks (GET /v1/organisations shows the ids)');
    if (!input.branchId) throw new ApiError('invalid-request', 'a partner-bank branch names its branch id');
  } else if (input.bankId) {
    throw new ApiError('invalid-request', `a ${input.channelKind} belongs to no bank: leave bankId out`);
  }
}

export async function createOrganisation(tx: Tx, input: NewOrganisation, actor: string, nowMs: number): Promise<OrganisationRow> {
  validateOrganisation(input);
  const inserted = await tx.run(`INSERT INTO organisations (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`, [
    input.id,
    input.name,
    input.channelKind,
    input.channelKind === 'bank-branch' ? input.bankId! : null,
    input.branchId ?? null,
    actor,
    nowMs,
  ]);
  if (inserted === 0) throw new ApiError('organisation-exists', `an organisation ${input.id} exists`);
  return (await findOrganisation(tx, input.id))!;
}

/**
 * A counter token asked for with only a branch id (clients from before organisations): the
 * organisation of that id, created as a partner-bank branch of the default issuing bank when it
 * does not exist, as migration 007 did for the tokens that existed then.
 */
export async function organisationForLegacyBranch(
  tx: Tx,
  branchId: string,
  defaultBank: string | undefined,
  actor: string,
  nowMs: number,
): Promise<OrganisationRow> {
  const id = branchId === 'online' ? 'branch-online' : branchId;
  const existing = await findOrganisation(tx, id);
  if (existing) return existing;
  await tx.run(`INSERT INTO organisations (${COLUMNS}) VALUES (?, ?, 'bank-branch', ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`, [
    id,
    `branch ${branchId}`,
    defaultBank ?? DEFAULT_ISSUING_BANK,
    branchId,
    actor,
    nowMs,
  ]);
  return (await findOrganisation(tx, id))!;
}
