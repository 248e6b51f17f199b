/**
 * Invoice field extraction: vendor, number, dates, currency, totals and line items from an invoice:
 * a PDF, a photo or scan (JPEG, PNG, GIF, WebP) or an e-mail in the field `file` (a path or an https
 * URL), or a folder of them as the input; or its text (OCR or e-mail body) in `text` as before.
 *
 * @example
 * batch-enrich --transform invoice-extraction invoices/ > extracted.ndjson
 * batch-enrich --transform invoice-extraction --into invoice invoices.ndjson > extracted.ndjson
 */
import { z } from 'zod';
import { defineRecipe } from '../src/recipe.ts';

export const schema = z.object({
  vendor: z.string(),
  invoice_number: z.string().nullable(),
  invoice_date: z.string().nullable().describe('ISO 8601 date, YYYY-MM-DD'),
  due_date: z.string().nullable().describe('ISO 8601 date, YYYY-MM-DD'),
  currency: z.string().describe('ISO 4217 code, e.g. EUR'),
  subtotal: z.number().nullable(),
  tax: z.number().nullable(),
  total: z.number(),
  line_items: z.array(
    z.object({
      description: z.string(),
      quantity: z.number().nullable(),
      unit_price: z.number().nullable(),
      amount: z.number(),
    }),
  ),
});

export type Invoice = z.infer<typeof schema>;

export default defineRecipe({
  name: 'invoice-extraction',
  description: 'Invoice field extraction: vendor, number, dates, currency, totals, line items',
  model: 'claude-haiku-4-5',
  maxTokens: 1500,
  idField: 'invoice_id',
  fields: ['text'],
  attach: ['file'],
  documentPrompt: `Extract the invoice in the attached document.`,
  system: `You extract structured data from invoices. The text may come from OCR and contain noise.
Rules:
- Copy the vendor name as printed (the issuer, not the customer).
- Dates as YYYY-MM-DD; null when absent. Interpret day/month order from the invoice's country.
- Amounts as plain numbers in the invoice currency, without thousands separators; currency as an
  ISO 4217 code (EUR for €, USD for $ unless another dollar is named, GBP for £).
- total is the amount payable including tax. subtotal and tax are null when not stated.
- One line item per billed line; quantity and unit_price null when not stated.
Never guess a value that is not in the text: use null where the schema allows it.`,
  prompt: `Invoice text:
<invoice>
{{text}}
</invoice>`,
  schema,
});
