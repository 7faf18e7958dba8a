/**
 * YAML pieces of the configs tests run on the generated synthetic dataset (`lemopt
 * generate` into `data/` beside the config): the data section, the small feature set and
 * model of the run, sweep and report tests, and fixed latency coefficients so those tests
 * never calibrate.
 */
export const RANDOM_SPLIT = '{ method: random, train: 0.8, valid: 0.1, test: 0.1 }';

/** The data section; `split` a YAML flow mapping, or null for the config's default split. */
export function dataSection(split: string | null = RANDOM_SPLIT): string {
  return [
    'data:',
    '  source: data/interactions.parquet',
    '  label: { column: label }',
    ...(split === null ? [] : [`  split: ${split}`]),
    '  workers: 0',
  ].join('\n');
}

/** Five user and three item groups, one candidate group per tower. */
export const SMALL_FEATURES = `features:
  - name: [u_region, u_age_band, u_occupation, u_browser, u_referrer]
    tower: user
  - name: [i_category, i_brand, i_color]
    tower: item`;

export const SMALL_MODEL =
  'model: { embedding_dim: 8, user_tower: [16, 8], item_tower: [16, 8], backend: wasm }';

/** A `selection.latency` entry (indent it under `selection:`). */
export const FIXED_LATENCY =
  'latency: { coefficients: { constant_us: 1, per_lookup_us: 0.2, per_dim_us: 0.01, per_mflop_us: 50 } }';

/**
 * The planted dataset's signal, copies and noise (selection-planted, selection-value-stop).
 * Left out: noise with hundreds of values per user or item (u_referrer, i_supplier) and
 * the high-cardinality signals (u_postcode, u_city): each is a partial user or item id,
 * and together they identify users, so on the training loss they are informative
 * (memorisation), not noise.
 */
export const PLANTED_ATTRIBUTES = `
  - name: [u_region, u_market, u_age_band, u_occupation, u_device, u_signup_cohort, u_browser]
    tower: user
  - { name: u_engagement, tower: user, type: numeric, buckets: 10 }
  - name: [i_category, i_department, i_brand, i_price_band, i_color]
    tower: item
  - { name: i_tags, tower: item, type: multi_categorical, pooling: mean }
  - { name: i_weight, tower: item, type: numeric, buckets: 10 }`;
