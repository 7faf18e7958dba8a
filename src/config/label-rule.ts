/**
 * The grammar of data.label.rule, apart from the schema so that the encoder (in workers)
 * can read it without loading zod.
 */
/** `>= 4`, `> 0.5`, `== click`, `!= 0`; or `binary` for 0/1 (or true/false) as given. */
export const LABEL_RULE_PATTERN = /^\s*(binary|(>=|<=|==|!=|>|<)\s*(\S.*?))\s*$/;
