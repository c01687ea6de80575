/**
 * The 15 partner banks that issue the card (seed question 5; DOMAIN.md section 7): every card is
 * issued by one of them, fixed at issue (a bank change is a new card, never an edit). The ids are
 * the wire values (stable, never renamed); the names are the banks' own. No other bank exists
 * here: the list is the manual's, in its order.
 */
export const PARTNER_BANKS = [
  { id: 'icbc', name: '中国工商银行', nameEn: 'Industrial and Commercial Bank of China' },
  { id: 'abc', name: '中国农业银行', nameEn: 'Agricultural Bank of China' },
  { id: 'boc', name: '中国银行', nameEn: 'Bank of China' },
  { id: 'ccb', name: '中国建设银行', nameEn: 'China Construction Bank' },
  { id: 'bocom', name: '交通银行', nameEn: 'Bank of Communications' },
  { id: 'citic', name: '中信银行', nameEn: 'China CITIC Bank' },
  { id: 'ceb', name: '中国光大银行', nameEn: 'China Everbright Bank' },
  { id: 'hxb', name: '华夏银行', nameEn: 'Hua Xia Bank' },
  { id: 'cmbc', name: '中国民生银行', nameEn: 'China Minsheng Bank' },
  { id: 'cgb', name: '广发银行', nameEn: 'China Guangfa Bank' },
  { id: 'cmb', name: '招商银行', nameEn: 'China Merchants Bank' },
  { id: 'spdb', name: '上海浦东发展银行', nameEn: 'Shanghai Pudong Development Bank' },
  { id: 'bob', name: '北京银行', nameEn: 'Bank of Beijing' },
  { id: 'bjrcb', name: '北京农商银行', nameEn: 'Beijing Rural Commercial Bank' },
  { id: 'psbc', name: '中国邮政储蓄银行', nameEn: 'Postal Savings Bank of China' },
] as const;

export type PartnerBankId = (typeof PARTNER_BANKS)[number]['id'];
export const PARTNER_BANK_IDS = PARTNER_BANKS.map((b) => b.id) as unknown as readonly [PartnerBankId, ...PartnerBankId[]];

/**
 * The bank of cards issued before the issuing bank was recorded (migration 006) and of a request
 * that names none (older clients): the first bank of the manual's list. Configurable per
 * deployment through the `defaultIssuingBank` policy.
 */
export const DEFAULT_ISSUING_BANK: PartnerBankId = 'icbc';

export function isPartnerBankId(value: string): value is PartnerBankId {
  return PARTNER_BANKS.some((b) => b.id === value);
}

export function partnerBank(id: string): (typeof PARTNER_BANKS)[number] {
  const bank = PARTNER_BANKS.find((b) => b.id === id);
  if (!bank) throw new Error(`unknown partner bank ${id}`);
  return bank;
}
