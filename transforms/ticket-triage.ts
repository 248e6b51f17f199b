/**
 * Support-ticket triage: category, sentiment, urgency and how soon to answer, for every ticket.
 * Input fields: `subject`, `body` (extra columns pass through untouched).
 *
 * @example
 * cat tickets.csv | batch-enrich --transform ticket-triage > triaged.ndjson
 */
import { z } from 'zod';
import { defineRecipe } from '../src/recipe.ts';

export const schema = z.object({
  category: z.enum(['billing', 'bug', 'feature_request', 'account', 'outage', 'how_to', 'other']),
  sentiment: z.enum(['negative', 'neutral', 'positive']),
  urgency: z.enum(['low', 'medium', 'high', 'critical']),
  response_hours: z.number().int().min(1).max(168),
  summary: z.string(),
});

export type TicketTriage = z.infer<typeof schema>;

export default defineRecipe({
  name: 'ticket-triage',
  description: 'Support-ticket triage: category, sentiment, urgency, suggested response hours',
  model: 'claude-haiku-4-5',
  maxTokens: 400,
  idField: 'ticket_id',
  fields: ['subject', 'body'],
  system: `You triage customer support tickets for a software company.
For each ticket, return:
- category: billing (charges, invoices, refunds, plans), bug (something broken for this customer),
  feature_request (asks for something new), account (login, access, users, data export), outage
  (the service is down or degraded for many), how_to (asks how to do something that exists), other.
- sentiment: the customer's tone: negative, neutral or positive.
- urgency: critical (production down, data loss, security, legal deadline), high (blocked, no
  workaround, or a paying customer threatening to leave), medium (impaired, workaround exists),
  low (questions, suggestions, cosmetic issues).
- response_hours: how soon a human should answer, in whole hours from 1 to 168 (critical: 1,
  high: 4, medium: 24, low: 72 unless the ticket says otherwise).
- summary: one sentence, at most 25 words, in the ticket's language.
Judge only from the ticket text. Do not invent facts.`,
  prompt: `Subject: {{subject}}

{{body}}`,
  schema,
});
