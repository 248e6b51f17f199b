/**
 * The header every answer of our emulator carries, and the API's never do: `list-immediate`, its
 * list shows a batch as soon as it is made. A search for the batch of a create whose answer was lost
 * (`src/sink/adoption.ts`) can then take it for not made as soon as it has looked long enough in poll
 * intervals; on any other server it looks for a minute at least (`LIST_LAG_MS`).
 */
export const EMULATOR_HEADER = 'x-batch-enrich-emulator';
export const LIST_IMMEDIATE = 'list-immediate';
