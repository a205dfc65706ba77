/**
 * Names for the statements sent to a Postgres server (database.ts names every statement with
 * parameters), so that Postgres parses and plans each shape once per connection instead of on
 * every request (pg sends Parse only the first time it sees a name on a connection; after five
 * executions Postgres may keep a generic plan when it costs no more than the custom ones). A
 * `$book` sends ~14 statements; unnamed, their parse and bind were most of its Postgres time.
 *
 * A statement's text depends on the code and, for searches, on the query's parameters, not on
 * their values (those are bound), so the shapes a server sees are few, but a client could make
 * many: each name stays prepared on every pooled connection for its lifetime. So only the first
 * MAX_NAMED shapes a process meets get a name (and MAX_SEARCH_NAMED search shapes, counted
 * apart); later ones run unnamed, as before. The name is a
 * digest of the text: two different texts never share one (pg refuses a name reused for other
 * SQL).
 */
import { createHash } from 'node:crypto';

export const MAX_NAMED = 1000;
export const MAX_SEARCH_NAMED = 500;

export class StatementNames {
  private readonly named = new Map<string, string>();
  constructor(private readonly max: number = MAX_NAMED) {}

  /** The name to prepare `text` under, or undefined once `max` other shapes have names. */
  nameOf(text: string): string | undefined {
    const known = this.named.get(text);
    if (known !== undefined) return known;
    if (this.named.size >= this.max) return undefined;
    // 128 bits of SHA-256: Postgres keeps 63 bytes of an identifier, this uses 34.
    const name = `s_${createHash('sha256').update(text).digest('hex').slice(0, 32)}`;
    this.named.set(text, name);
    return name;
  }
}

/**
 * The process's names: pg caches prepared statements per connection, and every connection of
 * the pool may be handed any statement, so the bounds hold per process, not per pool. The
 * shapes of search statements come from clients' queries, so they have a budget of their own:
 * a client making many can't leave the server's own statements (writes, `$book`, reads)
 * unprepared.
 */
const names = new StatementNames();
const searchNames = new StatementNames(MAX_SEARCH_NAMED);
export const statementName = (text: string): string | undefined => names.nameOf(text);
/** For SQL built from a search's parameters: a name, or `false` (run unnamed) past its budget. */
export const searchStatementName = (text: string): string | false =>
  searchNames.nameOf(text) ?? false;
