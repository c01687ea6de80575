/**
 * The sandbox card service over HTTP: `/v1/sandbox/cards/{cardNo}/...`, one route per card
 * command, JSON bodies of hex fields (virtual-cards.ts holds the cards). Every command answers
 * 200 with the card's status word (`sw`, "9000" = success) and data, as a card reader would
 * report them, plus the fields parsed; a torn command answers `answered: false`, `sw` "0000"
 * (the card lost power: no answer). Counters, app sessions (their own card only) and operators
 * may call them.
 */
import type { FastifyInstance } from 'fastify';
import {
  LIMITS,
  SW,
  type CardResponse,
  type CardRecordKind,
  algorithmFromId,
  parseLogRecord,
  parseLoadInit,
  transactionDateBytes,
  transactionTimeBytes,
} from '#core';
import { ApiError } from '../http/problem.ts';
import { hexToBytes } from '../http/schemas.ts';
import {
  AUTHENTICATED,
  BEARER,
  CardNo,
  CardNoParams,
  Fen,
  Hex,
  money,
  nullableTimestamp,
  problems,
  type Static,
  StringEnum,
  Type,
  WITH_BODY,
  withExamples,
  withIso,
  yuanAndFen,
  Yuan,
  YuanAnswer,
} from '../http/wire.ts';
import { parseWireYuan } from '../http/yuan-wire.ts';
import type { VirtualCards } from './virtual-cards.ts';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex').toUpperCase();
const swHex = (sw: number): string => sw.toString(16).toUpperCase().padStart(4, '0');

const TEARABLE = [
  'initializeForLoad',
  'creditForLoad',
  'updateRecord',
  'initializeForPurchase',
  'debitForPurchase',
  'updateCappDataCache',
  'applicationBlock',
  'applicationUnblock',
] as const;

/** The fields every card answer has. */
const answerFields = {
  sw: Type.String({
    pattern: '^[0-9A-F]{4}$',
    description:
      "Status word: 9000 success, 0000 no answer (torn), else the card's refusal (6985 out of order, 9302 MAC error, 9402 over the balance cap, 6A83 not found)",
    examples: ['9000'],
  }),
  answered: Type.Boolean({ description: 'false: the card lost power during the command (an armed tear) and gave no answer' }),
  data: Type.String({ pattern: '^([0-9A-F]{2})*$', description: 'Response data, hex (empty when none)', examples: [''] }),
};

/** Hex in an answer (upper case, whole bytes). */
const HexAnswer = (bytes: number, description: string, example: string) =>
  Type.String({ pattern: `^[0-9A-F]{${bytes * 2}}$`, description, examples: [example] });

/** The tear armed on a card: the command whose next call loses power, and when. */
const TearPoint = Type.Object(
  {
    command: StringEnum(TEARABLE, { description: 'The card command whose next call loses power' }),
    moment: StringEnum(['before-write', 'after-write'] as const, {
      description: 'before-write: nothing changes on the card; after-write: the card commits, the answer is lost',
    }),
  },
  { additionalProperties: false },
);
const ArmedTear = Type.Union([TearPoint, Type.Null()], { description: 'The armed tear; null when none' });

function base(response: CardResponse) {
  return { sw: swHex(response.sw), answered: response.sw !== 0, data: hex(response.data) };
}

const ParkPass = Type.Object(
  {
    year: Type.Integer({ description: 'Pass year (0 = empty slot)', examples: [2026] }),
    visits: Type.Integer({ description: 'Park entries made with the pass', examples: [0] }),
    lastParkId: Type.Integer({ description: 'The park of the last entry (0 = none)', examples: [0] }),
    lastEntryTime: Type.Integer({ description: 'Last entry as the card stores it: epoch seconds (0 = none)', examples: [0] }),
    ...nullableTimestamp('lastEntryMs', 'Last entry'),
  },
  { additionalProperties: false },
);

/** A park-pass slot as the card holds it, with the last entry also in epoch ms and ISO Beijing form. */
function parkPassAnswer(p: { year: number; visits: number; lastParkId: number; lastEntryTime: number }) {
  const lastEntryMs = p.lastEntryTime === 0 ? null : p.lastEntryTime * 1000;
  return withIso({ year: p.year, visits: p.visits, lastParkId: p.lastParkId, lastEntryTime: p.lastEntryTime, lastEntryMs }, 'lastEntryMs');
}

const LogRecord = Type.Object(
  {
    atc: Type.Integer({ description: 'ATC of the transaction (online ATC for loads, offline for purchases), before the increment', examples: [0] }),
    type: Type.Integer({ description: 'Transaction type: 2 load, 6 purchase, 9 composite purchase', examples: [2] }),
    ...money('amount', 'Transaction amount', 5000),
    ...money('overdraft', 'Overdraft used after the transaction', 0),
    terminalId: HexAnswer(6, 'Terminal id of the transaction (6 bytes)', '0000000001A1'),
    date: Type.Integer({ description: 'Transaction date on the card, YYYYMMDD (Beijing)', examples: [20260310] }),
    time: Type.Integer({ description: 'Transaction time on the card, hhmmss (Beijing)', examples: [100000] }),
  },
  { additionalProperties: false },
);

/** The example log record of the OpenAPI answers: the 50.00 load at counter terminal 0000000001A1. */
const LOAD_LOG_EXAMPLE = {
  atc: 0,
  type: 2,
  amount: '50.00',
  amountFen: 5000,
  overdraft: '0.00',
  overdraftFen: 0,
  terminalId: '0000000001A1',
  date: 20260310,
  time: 100000,
};

const CardState = Type.Object(
  {
    cardNo: CardNo(),
    ...money('balance', 'Effective balance (balance - overdraft used)', 5000),
    onlineAtc: Type.Integer({ description: 'Online ATC: the next load uses it', examples: [1] }),
    offlineAtc: Type.Integer({ description: 'Offline ATC: the next purchase uses it', examples: [0] }),
    keyVersion: Type.Integer({ description: 'Issuer key version the card was personalised with', examples: [1] }),
    algorithm: Type.String({ description: "The card's cipher algorithm", examples: ['3des'] }),
    locked: Type.Boolean({ description: 'true: the application is blocked (the card refuses purses and writes)' }),
    parkPasses: Type.Array(ParkPass, { description: '[previous, current] park-pass slots' }),
    log: Type.Array(LogRecord, { description: 'The transaction log, newest first (READ RECORD 1..10)' }),
    tearArmed: ArmedTear,
  },
  { additionalProperties: false },
);

const InitLoadBody = Type.Object(
  {
    amount: Yuan('Amount to load, yuan', '50.00'),
    terminalId: Hex(6, 'Terminal id of the counter or app (6 bytes)', '0000000001A1'),
    keyIndex: Type.Optional(Type.Integer({ minimum: 0, maximum: 255, description: 'Load key index (1, the only one the card has)', default: 1 })),
  },
  { additionalProperties: false },
);

/** Success fields are present only when `sw` is 9000. */
const InitLoadAnswer = Type.Object(
  {
    ...answerFields,
    balanceBeforeFen: Type.Optional(
      Type.Integer({ description: 'Balance before the load, fen: the `balanceBeforeFen` of POST /v1/loads (success only)', examples: [0] }),
    ),
    onlineAtc: Type.Optional(Type.Integer({ description: 'The `onlineAtc` of POST /v1/loads (success only)', examples: [0] })),
    keyVersion: Type.Optional(Type.Integer({ description: 'The `keyVersion` of POST /v1/loads (success only)', examples: [1] })),
    algorithm: Type.Optional(Type.String({ description: 'The `algorithm` of POST /v1/loads (success only)', examples: ['3des'] })),
    cardRandom: Type.Optional(HexAnswer(4, 'The `cardRandom` of POST /v1/loads (success only)', '1A2B3C4D')),
    mac1: Type.Optional(HexAnswer(4, 'The `mac1` of POST /v1/loads (success only)', '5E6F7A8B')),
  },
  { additionalProperties: false },
);

const CreditBody = Type.Object(
  {
    date: Type.Integer({ minimum: 19000101, maximum: 99991231, description: 'YYYYMMDD, the `date` of the POST /v1/loads answer', examples: [20260310] }),
    time: Type.Integer({ minimum: 0, maximum: 235959, description: 'hhmmss, the `time` of the POST /v1/loads answer', examples: [100000] }),
    mac2: Hex(4, 'The `mac2` of the POST /v1/loads answer', '1A2B3C4D'),
  },
  { additionalProperties: false },
);

const CreditAnswer = Type.Object(
  { ...answerFields, tac: Type.Optional(HexAnswer(4, 'TAC of the load, for POST /v1/loads/{id}/confirm { tac } (success only)', '9C8D7E6F')) },
  { additionalProperties: false },
);

const BalanceAnswer = Type.Object(
  {
    ...answerFields,
    balance: Type.Optional(YuanAnswer('Effective balance, balance - overdraft used (success only)', '50.00')),
    balanceFen: Type.Optional(Fen('Effective balance, balance - overdraft used (success only)', 5000)),
  },
  { additionalProperties: false },
);

const ReadRecordBody = Type.Object(
  { index: Type.Integer({ minimum: 1, maximum: LIMITS.cardLogRecords, description: 'Log record number, 1 = newest', examples: [1] }) },
  { additionalProperties: false },
);
const ReadRecordAnswer = Type.Object({ ...answerFields, record: Type.Optional(LogRecord) }, { additionalProperties: false });

const ProveBody = Type.Object(
  {
    transactionType: Type.Integer({ enum: [2, 6, 9], description: '2 load, 6 purchase, 9 composite purchase', examples: [2] }),
    atc: Type.Integer({ minimum: 0, maximum: 0xffff, description: 'The ATC the transaction used', examples: [0] }),
  },
  { additionalProperties: false },
);
const ProveAnswer = Type.Object(
  {
    ...answerFields,
    mac: Type.Optional(HexAnswer(4, 'MAC2 of the transaction (success only)', '5E6F7A8B')),
    tac: Type.Optional(HexAnswer(4, 'TAC of the transaction: for a torn load, the `tac` that confirms it (success only)', '9C8D7E6F')),
  },
  { additionalProperties: false },
);

const ChallengeAnswer = Type.Object(
  {
    ...answerFields,
    challenge: Type.Optional(HexAnswer(4, 'The challenge, for a park-pass sale or an unblock (success only)', '1A2B3C4D')),
  },
  { additionalProperties: false },
);

const UpdateRecordBody = Type.Object(
  {
    kind: StringEnum(['functions', 'park-pass-current', 'park-pass-previous'] as const, { description: 'The `write.kind` of the gateway answer' }),
    record: Type.String({ pattern: '^[0-9A-Fa-f]{2,64}$', description: 'The `write.record` of the gateway answer, hex' }),
    mac: Hex(4, 'The `write.mac` of the gateway answer'),
  },
  { additionalProperties: false },
);
const PlainAnswer = Type.Object({ ...answerFields }, { additionalProperties: false });

const TearBody = TearPoint;
const TearAnswer = Type.Object({ tearArmed: ArmedTear }, { additionalProperties: false });

type Params = Static<typeof CardNoParams>;

export function sandboxCardRoutes(cards: VirtualCards) {
  return async function routes(app: FastifyInstance): Promise<void> {
    const common = (summary: string, description: string) => ({
      tags: ['sandbox'],
      summary,
      description: `${description} Sandbox only: a virtual card for a card this gateway issued (its state as issued the first time it is addressed).`,
      security: BEARER,
      params: CardNoParams,
    });
    // Every command: the card (404 for a card this gateway did not issue, or another card than an
    // app session's own), 409 `conflict` when its key version is not among the sandbox keys. A
    // body the route does not take is still parsed (413, 415), except on GET.
    const CARD = ['card-not-found', 'conflict'] as const;
    const errors = problems(...AUTHENTICATED, ...WITH_BODY, ...CARD);
    const roles = { roles: ['counter', 'app'] as const, noChannelOperation: 'sandbox only: the virtual card a reader would hold' };

    app.get<{ Params: Params }>(
      '/v1/sandbox/cards/:cardNo',
      {
        config: roles,
        schema: {
          ...common('A virtual card: purse, counters, park passes, log (no keys)', 'What a reader would see of the card.'),
          response: {
            200: withExamples(
              CardState,
              {
                loaded: {
                  value: {
                    cardNo: '1000000000000016',
                    balance: '50.00',
                    balanceFen: 5000,
                    onlineAtc: 1,
                    offlineAtc: 0,
                    keyVersion: 1,
                    algorithm: '3des',
                    locked: false,
                    parkPasses: [
                      { year: 0, visits: 0, lastParkId: 0, lastEntryTime: 0, lastEntryMs: null, lastEntryAt: null },
                      {
                        year: 2026,
                        visits: 1,
                        lastParkId: 3,
                        lastEntryTime: 1773108000,
                        lastEntryMs: 1773108000000,
                        lastEntryAt: '2026-03-10T10:00:00.000+08:00',
                      },
                    ],
                    log: [LOAD_LOG_EXAMPLE],
                    tearArmed: null,
                  },
                },
              },
              'The card as a reader sees it',
            ),
            ...problems(...AUTHENTICATED, ...CARD),
          },
        },
      },
      async (request) => {
        const { cardNo } = request.params;
        const image = await cards.image(cardNo);
        return {
          cardNo,
          ...yuanAndFen('balance', image.balanceFen - image.overdraftUsedFen),
          onlineAtc: image.onlineAtc,
          offlineAtc: image.offlineAtc,
          keyVersion: image.keyVersion,
          algorithm: image.algorithm,
          locked: image.locked,
          parkPasses: image.parkPasses.map(parkPassAnswer),
          log: image.log.map((r) => ({
            atc: r.atc,
            type: r.type,
            ...yuanAndFen('amount', r.amountFen),
            ...yuanAndFen('overdraft', r.overdraftFen),
            terminalId: r.terminalId,
            date: r.date,
            time: r.time,
          })),
          tearArmed: cards.armedTear(cardNo),
        };
      },
    );

    app.post<{ Params: Params }>(
      '/v1/sandbox/cards/:cardNo/get-challenge',
      {
        config: roles,
        schema: {
          ...common('GET CHALLENGE', 'A 4-byte random for the next MAC-protected write (park pass, unblock); valid for the very next command.'),
          response: {
            200: withExamples(
              ChallengeAnswer,
              { challenge: { value: { sw: '9000', answered: true, data: '1A2B3C4D', challenge: '1A2B3C4D' } } },
              "The card's answer: the challenge",
            ),
            ...errors,
          },
        },
      },
      async (request) => {
        const answer = await cards.run(request.params.cardNo, (card) => card.getChallenge());
        return { ...base(answer), ...(answer.sw === SW.success ? { challenge: hex(answer.data) } : {}) };
      },
    );

    app.post<{ Params: Params; Body: Static<typeof InitLoadBody> }>(
      '/v1/sandbox/cards/:cardNo/initialize-for-load',
      {
        config: roles,
        schema: {
          ...common(
            'INITIALIZE FOR LOAD',
            'Starts a load on the card: its answer, parsed, is what POST /v1/loads takes (onlineAtc, cardRandom, balanceBeforeFen, mac1, keyVersion, algorithm).',
          ),
          body: withExamples(InitLoadBody, { fifty: { value: { amount: '50.00', terminalId: '0000000001A1' } } }),
          response: {
            200: withExamples(
              InitLoadAnswer,
              {
                initialised: {
                  value: {
                    sw: '9000',
                    answered: true,
                    data: '00000000000001001A2B3C4D5E6F7A8B',
                    balanceBeforeFen: 0,
                    onlineAtc: 0,
                    keyVersion: 1,
                    algorithm: '3des',
                    cardRandom: '1A2B3C4D',
                    mac1: '5E6F7A8B',
                  },
                },
                overCap: { summary: 'Over the 1,000-yuan balance cap', value: { sw: '9402', answered: true, data: '' } },
                torn: { summary: 'Torn: no answer', value: { sw: '0000', answered: false, data: '' } },
              },
              "The card's answer, parsed into the fields of POST /v1/loads",
            ),
            ...problems(...AUTHENTICATED, ...WITH_BODY, ...CARD, 'invalid-amount'),
          },
        },
      },
      async (request) => {
        const amountFen = parseWireYuan(request.body.amount, 'amount');
        const terminalId = hexToBytes(request.body.terminalId, 6, 'terminalId');
        const answer = await cards.run(
          request.params.cardNo,
          (card) => card.initializeForLoad(request.body.keyIndex ?? 1, amountFen, terminalId),
          'initializeForLoad',
        );
        const init = answer.sw === SW.success ? parseLoadInit(answer.data) : null;
        if (init === null) return base(answer);
        return {
          ...base(answer),
          balanceBeforeFen: init.balanceFen,
          onlineAtc: init.onlineAtc,
          keyVersion: init.keyVersion,
          algorithm: algorithmFromId(init.algorithmId),
          cardRandom: hex(init.random),
          mac1: hex(init.mac1),
        };
      },
    );

    app.post<{ Params: Params; Body: Static<typeof CreditBody> }>(
      '/v1/sandbox/cards/:cardNo/credit-for-load',
      {
        config: roles,
        schema: {
          ...common(
            'CREDIT FOR LOAD',
            "Completes the load begun by INITIALIZE FOR LOAD with the gateway's MAC2; the answer is the TAC to confirm the load with.",
          ),
          body: withExamples(CreditBody, { credit: { value: { date: 20260310, time: 100000, mac2: '1A2B3C4D' } } }),
          response: {
            200: withExamples(
              CreditAnswer,
              {
                credited: { value: { sw: '9000', answered: true, data: '9C8D7E6F', tac: '9C8D7E6F' } },
                torn: { summary: 'Torn: no answer', value: { sw: '0000', answered: false, data: '' } },
              },
              "The card's answer: the TAC of the load",
            ),
            ...errors,
          },
        },
      },
      async (request) => {
        const { date, time, mac2 } = request.body;
        let dateBytes: Uint8Array;
        let timeBytes: Uint8Array;
        try {
          dateBytes = transactionDateBytes(date);
          timeBytes = transactionTimeBytes(time);
        } catch {
          throw new ApiError('invalid-request', 'date must be YYYYMMDD and time hhmmss, as the POST /v1/loads answer gives them');
        }
        const mac = hexToBytes(mac2, 4, 'mac2');
        const answer = await cards.run(request.params.cardNo, (card) => card.creditForLoad(dateBytes, timeBytes, mac), 'creditForLoad');
        return { ...base(answer), ...(answer.sw === SW.success ? { tac: hex(answer.data.slice(0, 4)) } : {}) };
      },
    );

    app.post<{ Params: Params }>(
      '/v1/sandbox/cards/:cardNo/get-balance',
      {
        config: roles,
        schema: {
          ...common('GET BALANCE', 'The effective balance (balance - overdraft used).'),
          response: {
            200: withExamples(
              BalanceAnswer,
              { balance: { value: { sw: '9000', answered: true, data: '00001388', balance: '50.00', balanceFen: 5000 } } },
              "The card's answer: the effective balance",
            ),
            ...errors,
          },
        },
      },
      async (request) => {
        const answer = await cards.run(request.params.cardNo, (card) => card.getBalance());
        if (answer.sw !== SW.success) return base(answer);
        const fen = new DataView(answer.data.buffer, answer.data.byteOffset, 4).getInt32(0);
        return { ...base(answer), ...yuanAndFen('balance', fen) };
      },
    );

    app.post<{ Params: Params; Body: Static<typeof ReadRecordBody> }>(
      '/v1/sandbox/cards/:cardNo/read-record',
      {
        config: roles,
        schema: {
          ...common(
            'READ RECORD (the transaction log)',
            "One record of the card's log, 1 = newest (6A83: no such record). The log is the card evidence of POST /v1/cards/{cardNo}/log-evidence.",
          ),
          body: withExamples(ReadRecordBody, { newest: { value: { index: 1 } } }),
          response: {
            200: withExamples(
              ReadRecordAnswer,
              {
                load: {
                  value: {
                    sw: '9000',
                    answered: true,
                    data: '000000000000001388020000000001A120260310100000',
                    record: LOAD_LOG_EXAMPLE,
                  },
                },
                none: { summary: 'No such record', value: { sw: '6A83', answered: true, data: '' } },
              },
              "The card's answer: the log record, parsed",
            ),
            ...errors,
          },
        },
      },
      async (request) => {
        const answer = await cards.run(request.params.cardNo, (card) => card.readLogRecord(request.body.index));
        if (answer.sw !== SW.success) return base(answer);
        const r = parseLogRecord(answer.data);
        return {
          ...base(answer),
          record: {
            atc: r.atc,
            type: r.type,
            ...yuanAndFen('amount', r.amountFen),
            ...yuanAndFen('overdraft', r.overdraftFen),
            terminalId: r.terminalId,
            date: r.date,
            time: r.time,
          },
        };
      },
    );

    app.post<{ Params: Params; Body: Static<typeof ProveBody> }>(
      '/v1/sandbox/cards/:cardNo/get-transaction-prove',
      {
        config: roles,
        schema: {
          ...common(
            'GET TRANSACTION PROVE',
            'The MAC and TAC of a committed transaction by type and ATC: the proof of a torn load the card did credit (6A83: no such transaction).',
          ),
          body: withExamples(ProveBody, { load: { value: { transactionType: 2, atc: 0 } } }),
          response: {
            200: withExamples(
              ProveAnswer,
              {
                proved: { value: { sw: '9000', answered: true, data: '5E6F7A8B9C8D7E6F', mac: '5E6F7A8B', tac: '9C8D7E6F' } },
                none: { summary: 'No such transaction', value: { sw: '6A83', answered: true, data: '' } },
              },
              "The card's answer: the transaction's MAC and TAC",
            ),
            ...errors,
          },
        },
      },
      async (request) => {
        const answer = await cards.run(request.params.cardNo, (card) => card.getTransactionProve(request.body.transactionType, request.body.atc));
        if (answer.sw !== SW.success) return base(answer);
        return { ...base(answer), mac: hex(answer.data.slice(0, 4)), tac: hex(answer.data.slice(4, 8)) };
      },
    );

    app.post<{ Params: Params; Body: Static<typeof UpdateRecordBody> }>(
      '/v1/sandbox/cards/:cardNo/update-record',
      {
        config: roles,
        schema: {
          ...common(
            'UPDATE RECORD (issuer-authorised write)',
            "Writes a record the gateway authorised (a park-pass sale's `write`), MAC over the challenge of the GET CHALLENGE just before.",
          ),
          body: withExamples(UpdateRecordBody, { pass: { value: { kind: 'park-pass-current', record: '5001000007EA00000000000000000000', mac: '1A2B3C4D' } } }),
          response: {
            200: withExamples(
              PlainAnswer,
              {
                written: { value: { sw: '9000', answered: true, data: '' } },
                macError: { summary: 'MAC error: nothing written', value: { sw: '9302', answered: true, data: '' } },
              },
              "The card's answer",
            ),
            ...problems(...AUTHENTICATED, ...WITH_BODY, ...CARD, 'invalid-hex'),
          },
        },
      },
      async (request) => {
        const { kind, record, mac } = request.body;
        if (record.length % 2 !== 0) throw new ApiError('invalid-hex', 'record must be whole bytes of hex');
        const recordBytes = new Uint8Array(Buffer.from(record, 'hex'));
        const macBytes = hexToBytes(mac, 4, 'mac');
        const answer = await cards.run(request.params.cardNo, (card) => card.updateRecord(kind as CardRecordKind, recordBytes, macBytes), 'updateRecord');
        return base(answer);
      },
    );

    app.post<{ Params: Params; Body: Static<typeof TearBody> }>(
      '/v1/sandbox/cards/:cardNo/tear',
      {
        config: roles,
        schema: {
          ...common(
            'Tear the next command',
            'The next call of `command` on this card loses power: before-write, nothing changes; after-write, the card commits but the answer is lost (answered: false). One tear at a time.',
          ),
          body: withExamples(TearBody, { creditCommits: { value: { command: 'creditForLoad', moment: 'after-write' } } }),
          response: {
            200: withExamples(TearAnswer, { armed: { value: { tearArmed: { command: 'creditForLoad', moment: 'after-write' } } } }, 'The tear now armed'),
            ...errors,
          },
        },
      },
      async (request) => {
        const point = { command: request.body.command, moment: request.body.moment };
        await cards.tear(request.params.cardNo, point);
        return { tearArmed: point };
      },
    );

    app.delete<{ Params: Params }>(
      '/v1/sandbox/cards/:cardNo/tear',
      {
        config: roles,
        schema: {
          ...common('Disarm the tear', 'The armed tear, if any, is removed.'),
          response: { 200: withExamples(TearAnswer, { disarmed: { value: { tearArmed: null } } }, 'No tear armed'), ...errors },
        },
      },
      async (request) => {
        await cards.tear(request.params.cardNo, null);
        return { tearArmed: null };
      },
    );
  };
}
