/**
 * Every schema migration, in one list. Platform migrations use ids 001-099, money migrations
 * 100-199, device PKI 200-299: add an import and append to the array; never edit one that has shipped.
 */
import type { Migration } from '../migrate.ts';
import { migration001Platform } from './001-platform.ts';
import { migration002DeviceClockSkew } from './002-device-clock-skew.ts';
import { migration003FareTables } from './003-fare-tables.ts';
import { migration004DropAuditTimeIndex } from './004-drop-audit-time-index.ts';
import { migration005Holders } from './005-holders.ts';
import { migration006IssuingBank } from './006-issuing-bank.ts';
import { migration007Organisations } from './007-organisations.ts';
import { migration008Console } from './008-console.ts';
import { migration100Ledger } from './100-ledger.ts';
import { migration101Loads } from './101-loads.ts';
import { migration102SyncJournal } from './102-sync-journal.ts';
import { migration103Refunds } from './103-refunds.ts';
import { migration104LoadInitOnce } from './104-load-init-once.ts';
import { migration105CardDebitOnce } from './105-card-debit-once.ts';
import { migration106DropPostingTimeIndex } from './106-drop-posting-time-index.ts';
import { migration107JournalWrittenOff } from './107-journal-written-off.ts';
import { migration108JournalRecoveredAt } from './108-journal-recovered-at.ts';
import { migration109CardLifecycle } from './109-card-lifecycle.ts';
import { migration110CardEnablement } from './110-card-enablement.ts';
import { migration120JournalFarePath } from './120-journal-fare-path.ts';
import { migration121DayClose } from './121-day-close.ts';
import { migration122InterissuerClearing } from './122-interissuer-clearing.ts';
import { migration200DevicePki } from './200-device-pki.ts';

export const MIGRATIONS: readonly Migration[] = [
  migration001Platform,
  migration002DeviceClockSkew,
  migration003FareTables,
  migration004DropAuditTimeIndex,
  migration005Holders,
  migration006IssuingBank,
  migration007Organisations,
  migration008Console,
  migration100Ledger,
  migration101Loads,
  migration102SyncJournal,
  migration103Refunds,
  migration104LoadInitOnce,
  migration105CardDebitOnce,
  migration106DropPostingTimeIndex,
  migration107JournalWrittenOff,
  migration108JournalRecoveredAt,
  migration109CardLifecycle,
  migration110CardEnablement,
  migration120JournalFarePath,
  migration121DayClose,
  migration122InterissuerClearing,
  migration200DevicePki,
];
