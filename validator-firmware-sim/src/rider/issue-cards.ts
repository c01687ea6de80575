/**
 * Riders get their cards from the gateway, as in the field: POST /v1/cards (the issuer
 * personalises the card image) and, for money on it, a counter load (INITIALIZE FOR LOAD on
 * the card -> POST /v1/loads -> CREDIT FOR LOAD with the gateway's MAC2 -> confirm with the
 * card's TAC). The card then goes into the wallet; the back office knows its balance.
 */
import { randomBytes } from 'node:crypto';
import { CardSimulator, SW, algorithmFromId, parseCardImage, parseLoadInit, transactionDateBytes, transactionTimeBytes, type CipherAlgorithm } from '#core';
import type { CardWallet } from './card-wallet.ts';

/** The counter terminal the loads are made at (6 bytes, hex). */
export const COUNTER_TERMINAL_ID = '0000000001A1';

export interface IssueOptions {
  gatewayUrl: string;
  /** Operator Bearer token (issues cards, makes a counter token for loads). */
  operatorToken: string;
  amountFen: number;
  algorithm?: CipherAlgorithm;
  holderName?: string;
  random?: () => Uint8Array;
  fetch?: typeof fetch;
}

// biome-ignore lint/suspicious/noExplicitAny: the gateway's JSON answers, read field by field by this rider tool
async function call(fetchFn: typeof fetch, url: string, token: string, body: unknown, what: string, extra: Record<string, string> = {}): Promise<any> {
  const res = await fetchFn(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...extra },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${what}: ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex').toUpperCase();

/** The body of POST /v1/loads (docs/gateway-api.md, "A top-up, step by step"). */
export interface LoadRequestBody {
  cardNo: string;
  /** Yuan, two decimals ("50.00"). */
  amount: string;
  paymentSource: string;
  onlineAtc: number;
  cardRandom: string;
  balanceBeforeFen: number;
  mac1: string;
  keyVersion: number;
  algorithm: CipherAlgorithm;
  terminalId: string;
}

/**
 * INITIALIZE FOR LOAD on the card (key index 1) at terminal `terminalId` (6 bytes, hex), and the
 * POST /v1/loads body made of its answer: what a counter or the app sends to have the gateway
 * authorise the load. The card's online ATC does not move until CREDIT FOR LOAD.
 */
export function loadRequestFromCard(card: CardSimulator, cardNo: string, amountFen: number, terminalId: string, paymentSource = 'cash'): LoadRequestBody {
  const answer = card.initializeForLoad(1, amountFen, Buffer.from(terminalId, 'hex'));
  if (answer.sw !== SW.success) throw new Error(`INITIALIZE FOR LOAD answered ${answer.sw.toString(16)}`);
  const init = parseLoadInit(answer.data);
  if (init === null) throw new Error('INITIALIZE FOR LOAD answer malformed');
  return {
    cardNo,
    amount: (amountFen / 100).toFixed(2),
    paymentSource,
    onlineAtc: init.onlineAtc,
    cardRandom: hex(init.random),
    balanceBeforeFen: init.balanceFen,
    mac1: hex(init.mac1),
    keyVersion: init.keyVersion,
    algorithm: algorithmFromId(init.algorithmId),
    terminalId,
  };
}

/** Issues one card (and loads `amountFen` on it) and puts it into the wallet; returns its number. */
export async function issueCardIntoWallet(
  wallet: CardWallet,
  options: IssueOptions,
  counterToken?: string,
): Promise<{ cardNo: string; counterToken: string | undefined }> {
  const fetchFn = options.fetch ?? fetch;
  const base = options.gatewayUrl.replace(/\/+$/, '');
  const issued = await call(
    fetchFn,
    `${base}/v1/cards`,
    options.operatorToken,
    {
      holderName: options.holderName ?? 'Rider',
      socialSecurityNo: '11010119900307123X',
      profile: 'adult',
      ...(options.algorithm ? { algorithm: options.algorithm } : {}),
    },
    'issue card',
  );
  const cardNo = issued.card.cardNo as string;
  const card = new CardSimulator(
    parseCardImage(Uint8Array.from(Buffer.from(issued.cardImage, 'hex'))),
    options.random ?? (() => new Uint8Array(randomBytes(4))),
  );
  let counter = counterToken;
  if (options.amountFen > 0) {
    counter ??= (
      await call(
        fetchFn,
        `${base}/v1/auth/tokens`,
        options.operatorToken,
        { role: 'counter', label: 'validator rider tool', branchId: 'branch-01' },
        'counter token',
      )
    ).token as string;
    const body = loadRequestFromCard(card, cardNo, options.amountFen, COUNTER_TERMINAL_ID);
    const load = await call(fetchFn, `${base}/v1/loads`, counter as string, body, 'load', { 'idempotency-key': `rider-load-${cardNo}` });
    const credit = card.creditForLoad(transactionDateBytes(load.date), transactionTimeBytes(load.time), Buffer.from(load.mac2, 'hex'));
    if (credit.sw !== SW.success) throw new Error(`CREDIT FOR LOAD answered ${credit.sw.toString(16)}`);
    await call(fetchFn, `${base}/v1/loads/${load.id}/confirm`, counter as string, { tac: hex(credit.data.slice(0, 4)) }, 'confirm load');
  }
  wallet.put(card.image(), card.proofs());
  return { cardNo, counterToken: counter };
}
