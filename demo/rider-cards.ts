/**
 * Riders' cards and what they do at counters and in the app: issue (POST /v1/cards, the card
 * image goes into the rider's CardSimulator), top up (INITIALIZE FOR LOAD on the card ->
 * POST /v1/loads -> CREDIT FOR LOAD with the issuer's MAC2 -> confirm with the card's TAC),
 * torn top-ups, park-pass sales written with an issuer-authorised record write, and the
 * counter's card read that settles pending loads from card evidence.
 */
import { CardSimulator, SW, effectiveBalanceFen, parseCardImage, parseCardView, transactionDateBytes, transactionTimeBytes, type HolderProfile } from '#core';
import { loadRequestFromCard } from '#validator/rider/issue-cards';
import type { GatewayAnswer, GatewayBody, GatewayClient } from './gateway-client.ts';

/** How a top-up or a park pass is paid (the gateway's enum). */
export type PaymentSource = GatewayBody<'post', '/v1/loads'>['paymentSource'];
import type { SeededRandom } from './seeded-random.ts';

export type LoadChannel = 'counter' | 'app';
/** How a top-up ends: completed, torn before CREDIT (card pulled), or credited but the confirm was lost. */
export type LoadEnding = 'complete' | 'torn-before-credit' | 'confirm-lost';

export interface RiderCard {
  index: number;
  cardNo: string;
  holderName: string;
  socialSecurityNo: string;
  profile: HolderProfile;
  card: CardSimulator;
  /** App session token once the rider has logged in and changed the initial password. */
  appToken: string | null;
  appTokenExpiresMs: number;
  appPassword: string;
}

export interface LoadOutcome {
  loadId: string;
  amountFen: number;
  channel: LoadChannel;
  paymentSource: PaymentSource;
  ending: LoadEnding;
}

const COUNTER_TERMINAL = '00000000C0A1';
const APP_TERMINAL = '00000000A9F1';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex').toUpperCase();

/** A made-up but well-formed social security number (18 characters, check character not computed). */
function socialSecurityNo(random: SeededRandom): string {
  const digits = Array.from({ length: 17 }, () => random.int(0, 9)).join('');
  return `110101${digits.slice(6)}${random.int(0, 9)}`;
}

export async function issueRiderCard(
  gateway: GatewayClient,
  counterToken: string,
  index: number,
  profile: HolderProfile,
  random: SeededRandom,
): Promise<RiderCard> {
  const ssn = socialSecurityNo(random);
  const holderName = `乘客${index + 1}`;
  const answer = await gateway.post('/v1/cards', counterToken, {
    body: { holderName, socialSecurityNo: ssn, profile, algorithm: random.chance(0.5) ? 'sm4' : '3des' },
  });
  const image = parseCardImage(Uint8Array.from(Buffer.from(answer.cardImage, 'hex')));
  const cardRandom = random.fork(index);
  return {
    index,
    cardNo: answer.card.cardNo,
    holderName,
    socialSecurityNo: ssn,
    profile,
    card: new CardSimulator(image, () => cardRandom.bytes4()),
    appToken: null,
    appTokenExpiresMs: 0,
    appPassword: ssn.slice(-6),
  };
}

/** Logs into the app (changing the initial password the first time). */
export async function appSession(gateway: GatewayClient, rider: RiderCard, nowMs: number): Promise<string> {
  if (rider.appToken !== null && rider.appTokenExpiresMs > nowMs + 60_000) return rider.appToken;
  const session = await gateway.post('/v1/auth/app-sessions', undefined, { body: { cardNo: rider.cardNo, password: rider.appPassword } });
  if (session.mustChangePassword) {
    const newPassword = `pw-${rider.cardNo.slice(-6)}-demo`;
    await gateway.post('/v1/auth/app-password', session.token, { body: { currentPassword: rider.appPassword, newPassword } });
    rider.appPassword = newPassword;
  }
  rider.appToken = session.token;
  rider.appTokenExpiresMs = session.expiresMs;
  return session.token;
}

export function effectiveBalance(rider: RiderCard): number {
  return effectiveBalanceFen(rider.card.image());
}

/**
 * One top-up. The card computes MAC1 in INITIALIZE FOR LOAD; the gateway verifies it, takes the
 * payment and answers MAC2; CREDIT FOR LOAD on the card; the card's TAC confirms the load.
 * 'torn-before-credit' stops before CREDIT (the card was pulled away); 'confirm-lost' credits
 * the card but never confirms (the phone lost its connection). Both leave the load pending
 * until card evidence decides it.
 */
export async function topUp(
  gateway: GatewayClient,
  rider: RiderCard,
  channel: LoadChannel,
  token: string,
  amountFen: number,
  paymentSource: PaymentSource,
  ending: LoadEnding,
  idempotencyKey: string,
): Promise<LoadOutcome> {
  const terminal = channel === 'app' ? APP_TERMINAL : COUNTER_TERMINAL;
  const body: GatewayBody<'post', '/v1/loads'> = { ...loadRequestFromCard(rider.card, rider.cardNo, amountFen, terminal, paymentSource), paymentSource };
  const load = await gateway.post('/v1/loads', token, { body, params: { header: { 'idempotency-key': idempotencyKey } } });
  const outcome: LoadOutcome = { loadId: load.id, amountFen, channel, paymentSource, ending };
  if (ending === 'torn-before-credit') return outcome;
  const credit = rider.card.creditForLoad(transactionDateBytes(load.date), transactionTimeBytes(load.time), Buffer.from(load.mac2, 'hex'));
  if (credit.sw !== SW.success) throw new Error(`CREDIT FOR LOAD on ${rider.cardNo}: SW ${credit.sw.toString(16)}`);
  if (ending === 'confirm-lost') return outcome;
  await gateway.post('/v1/loads/{id}/confirm', token, { params: { path: { id: load.id } }, body: { tac: hex(credit.data.slice(0, 4)) } });
  return outcome;
}

/** The counter reads the card (online ATC and log) and sends it as evidence for pending loads. */
export async function counterCardRead(
  gateway: GatewayClient,
  rider: RiderCard,
  counterToken: string,
): Promise<GatewayAnswer<'post', '/v1/cards/{cardNo}/log-evidence'>> {
  const viewAnswer = rider.card.readCardView();
  if (viewAnswer.sw !== SW.success) throw new Error(`read card ${rider.cardNo}: SW ${viewAnswer.sw.toString(16)}`);
  const view = parseCardView(viewAnswer.data);
  return gateway.post('/v1/cards/{cardNo}/log-evidence', counterToken, {
    params: { path: { cardNo: rider.cardNo } },
    body: { onlineAtc: view.onlineAtc, log: view.log.map((entry) => ({ atc: entry.atc, amountFen: entry.amountFen, type: entry.type })) },
  });
}

/** Sells the park annual pass and writes it onto the card with the issuer's authorised record write. */
export async function buyParkPass(
  gateway: GatewayClient,
  rider: RiderCard,
  token: string,
  idempotencyKey: string,
  paymentSource?: PaymentSource,
): Promise<{ passYear: number }> {
  const challenge = rider.card.getChallenge();
  if (challenge.sw !== SW.success) throw new Error(`GET CHALLENGE: SW ${challenge.sw.toString(16)}`);
  const passes = rider.card.image().parkPasses;
  const sale = await gateway.post('/v1/cards/{cardNo}/park-passes', token, {
    params: { path: { cardNo: rider.cardNo }, header: { 'idempotency-key': idempotencyKey } },
    body: { challenge: hex(challenge.data), cardPassYears: [passes[0].year, passes[1].year], ...(paymentSource === undefined ? {} : { paymentSource }) },
  });
  const written = rider.card.updateRecord(sale.write.kind, Buffer.from(sale.write.record, 'hex'), Buffer.from(sale.write.mac, 'hex'));
  if (written.sw !== SW.success) throw new Error(`UPDATE RECORD park pass: SW ${written.sw.toString(16)}`);
  return { passYear: sale.passYear };
}
