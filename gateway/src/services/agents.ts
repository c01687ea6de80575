/**
 * Agents and guardians (issue 16; seed q37, q33, q24): someone acting for the holder. An agent
 * with the holder's written authorisation may enable, report a temporary loss, change the
 * service password, query status, and cancel with the documents of q33 (e.g. a death
 * certificate); a minor (under 18 by the holder's birth date) acts through a guardian with proof
 * of guardianship (household register, birth certificate). The rules are in channel-rules.ts
 * (assertActorMay); this module records each act: the agent's ID number only as its keyed HMAC
 * (never stored, logged or answered), the agent's name, the document and its reference, who at
 * which organisation accepted it, and when.
 */
import { ApiError } from '../http/problem.ts';
import type { Tx } from '../store/store-port.ts';
import { type ActingAs, assertActorMay, type Operation } from './channel-rules.ts';
import { holderIdHmac } from './holders.ts';

/** Documents an agent or guardian presents (q37, q33, q24). Wire values. */
export const AGENT_DOCUMENTS = {
  agent: ['written-authorisation', 'death-certificate', 'emigration-proof', 'transfer-proof'],
  guardian: ['household-register', 'birth-certificate', 'guardianship-proof'],
} as const;

export interface AgentInput {
  actingAs: 'agent' | 'guardian';
  /** The agent's own ID number: becomes its HMAC here. */
  idNumber: string;
  name: string;
  document: { kind: string; reference: string };
}

/** Cancellation with documents (q33): the documents besides a written authorisation. */
const CANCEL_DOCUMENTS = new Set(['death-certificate', 'emigration-proof', 'transfer-proof', 'written-authorisation']);

/**
 * Checks who acts (the holder, an agent, a guardian) for `operation` on a holder born on
 * `birthDate`, and that the document fits; throws the rule's problem otherwise.
 */
export function checkActor(operation: Operation, agent: AgentInput | undefined, birthDate: number | null, nowMs: number): ActingAs {
  const actingAs: ActingAs = agent?.actingAs ?? 'holder';
  assertActorMay(operation, actingAs, birthDate, nowMs);
  if (agent) {
    const allowed: readonly string[] = AGENT_DOCUMENTS[agent.actingAs];
    if (!allowed.includes(agent.document.kind)) {
      throw new ApiError('invalid-request', `a ${agent.actingAs} presents one of: ${allowed.join(', ')}`);
    }
    if (agent.actingAs === 'agent' && operation !== 'cancel' && operation !== 'cancel-transit-refund' && agent.document.kind !== 'written-authorisation') {
      throw new ApiError('invalid-request', "an agent presents the holder's written authorisation");
    }
    if (agent.actingAs === 'agent' && (operation === 'cancel' || operation === 'cancel-transit-refund') && !CANCEL_DOCUMENTS.has(agent.document.kind)) {
      throw new ApiError('invalid-request', 'a cancellation by an agent needs the documents of the case (e.g. a death certificate)');
    }
  }
  return actingAs;
}

/** Records the act; answers its id (audit: personal data changes name it). */
export async function recordAgentAct(
  tx: Tx,
  key: Uint8Array,
  input: { agent: AgentInput; holderId: number | null; cardNo: string | null; operation: Operation; actedBy: string; organisationId: string | null },
  nowMs: number,
): Promise<number> {
  const rows = await tx.all<{ id: number }>(
    `INSERT INTO agent_acts (holder_id, card_no, operation, acting_as, agent_id_hmac, agent_name, document_kind, document_ref, acted_by, organisation_id, at_ms)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
    [
      input.holderId,
      input.cardNo,
      input.operation,
      input.agent.actingAs,
      holderIdHmac(key, input.agent.idNumber),
      input.agent.name,
      input.agent.document.kind,
      input.agent.document.reference,
      input.actedBy,
      input.organisationId,
      nowMs,
    ],
  );
  return Number(rows[0].id);
}

/** Who acts for the counter or session: recorded with each agent act. */
export interface ActedAt {
  actedBy: string;
  organisationId: string | null;
}

/**
 * The one check every agent-capable route makes (q37, q33, q24): reads the holder's birth date,
 * checks who acts for `operation` (the holder, an agent with the right document, a minor's
 * guardian) and records the act when someone acts for the holder. Call inside the route's
 * transaction, after the channel check, before the operation changes anything: a refusal
 * rolls everything back. Answers who acted and the act's id (null when the holder acted).
 * `repeat`: the request is a retry that changes nothing (the operation was already done): the
 * actor is still checked, but no second act is recorded (actId null).
 */
export async function actForHolder(
  tx: Tx,
  key: Uint8Array,
  input: {
    operation: Operation;
    agent: AgentInput | undefined;
    holderId: number | null;
    cardNo: string | null;
    birthDate?: number | null;
    repeat?: boolean;
  },
  at: ActedAt,
  nowMs: number,
): Promise<{ actingAs: ActingAs; actId: number | null }> {
  let birthDate = input.birthDate ?? null;
  if (input.birthDate === undefined && input.holderId !== null) {
    const row = await tx.get<{ birth_date: number | bigint | null }>('SELECT birth_date FROM holders WHERE id = ?', [input.holderId]);
    birthDate = row?.birth_date === null || row?.birth_date === undefined ? null : Number(row.birth_date);
  }
  const actingAs = checkActor(input.operation, input.agent, birthDate, nowMs);
  if (input.agent === undefined || input.repeat === true) return { actingAs, actId: null };
  const actId = await recordAgentAct(
    tx,
    key,
    { agent: input.agent, holderId: input.holderId, cardNo: input.cardNo, operation: input.operation, actedBy: at.actedBy, organisationId: at.organisationId },
    nowMs,
  );
  return { actingAs, actId };
}

export interface AgentActRow {
  id: number;
  cardNo: string | null;
  operation: string;
  actingAs: string;
  agentName: string;
  documentKind: string;
  documentRef: string;
  actedBy: string;
  organisationId: string | null;
  atMs: number;
}

/** The acts recorded for a card, oldest first. */
export async function agentActsOfCard(tx: Tx, cardNo: string): Promise<AgentActRow[]> {
  const rows = await tx.all<Record<string, string | number | null>>(
    'SELECT id, card_no, operation, acting_as, agent_name, document_kind, document_ref, acted_by, organisation_id, at_ms FROM agent_acts WHERE card_no = ? ORDER BY id',
    [cardNo],
  );
  return rows.map((r) => ({
    id: Number(r.id),
    cardNo: r.card_no === null ? null : String(r.card_no),
    operation: String(r.operation),
    actingAs: String(r.acting_as),
    agentName: String(r.agent_name),
    documentKind: String(r.document_kind),
    documentRef: String(r.document_ref),
    actedBy: String(r.acted_by),
    organisationId: r.organisation_id === null ? null : String(r.organisation_id),
    atMs: Number(r.at_ms),
  }));
}
