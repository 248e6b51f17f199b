/**
 * Contract liability-clause review: is liability capped, at what, what is carved out of the cap,
 * is it mutual, and how risky is the clause for us (the customer). Input fields: `clause` (the
 * clause text) and optionally `contract` (its title or id, for context; `{{contract?}}` is empty
 * when a record has none). Or whole contracts as PDFs (a folder, `--input-format paths`, or
 * `--attach FIELD`): then the answer is `clauses`, each liability clause found with its page and the
 * same review (`documentSchema`).
 *
 * @example
 * batch-enrich --transform contract-clauses --output-format csv clauses.csv > review.csv
 * batch-enrich --transform contract-clauses contracts/ > clauses.ndjson
 */
import { z } from 'zod';
import { defineRecipe } from '../src/recipe.ts';

export const schema = z.object({
  is_liability_clause: z.boolean(),
  liability_capped: z.boolean().nullable(),
  cap: z.string().nullable().describe('the cap as written, e.g. "12 months of fees"'),
  carve_outs: z.array(z.string()).describe('liabilities excluded from the cap'),
  mutual: z.boolean().nullable(),
  excludes_consequential_damages: z.boolean().nullable(),
  risk: z.enum(['low', 'medium', 'high']),
  rationale: z.string().describe('one or two sentences'),
});

export type ClauseReview = z.infer<typeof schema>;

/** The answer for a whole contract: each liability clause with the page it is on. */
export const documentSchema = z.object({
  clauses: z.array(
    z.object({
      page: z.number().int().describe('1-based page of the PDF where the clause starts'),
      number: z.string().nullable().describe('the clause number as printed, e.g. "7.1"'),
      text: z.string().describe('the clause, quoted'),
      ...schema.omit({ is_liability_clause: true }).shape,
    }),
  ),
});

export default defineRecipe({
  name: 'contract-clauses',
  description: 'Contract liability-clause review: cap, carve-outs, mutuality, risk',
  model: 'claude-sonnet-5',
  maxTokens: 800,
  // A whole contract's answer quotes and reviews every liability clause: at 800 it was cut off, asked
  // again, and the whole PDF paid for twice (helper-89).
  documentMaxTokens: 8192,
  fields: ['clause', 'contract'],
  system: `You are a commercial lawyer reviewing limitation-of-liability clauses for the customer side
of SaaS and services contracts. For each clause:
- is_liability_clause: false when the clause is not about liability at all (then the other fields
  are null or empty and risk is low).
- liability_capped: whether the supplier's liability is limited to an amount or formula.
- cap: the cap as written, or null.
- carve_outs: liabilities the clause excludes from the cap (e.g. confidentiality breach, IP
  indemnity, data protection, gross negligence, fraud).
- mutual: whether the limitation applies to both parties.
- excludes_consequential_damages: whether indirect or consequential damages are excluded.
- risk for the customer: high when the supplier's cap is below 12 months of fees or data-protection
  breaches are capped; medium when the cap is 12 months of fees with the usual carve-outs missing;
  low otherwise.
- rationale: one or two sentences a non-lawyer can follow.
Quote nothing you cannot find in the clause.`,
  documentPrompt: `Find every limitation-of-liability clause in the attached contract, and review each one.`,
  documentSchema,
  prompt: `Contract: {{contract?}}

Clause:
{{clause}}`,
  schema,
});
