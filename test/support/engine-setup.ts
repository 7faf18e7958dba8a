/**
 * Every test file starts with tfjs on its default backend as the process's engine, so that
 * models built without choosing a backend (selectBackend) compute on the reference engine.
 */
import { useEngine } from '../../src/model/backend.js';
import { tfjsEngine } from '../../src/model/tfjs/engine.js';

useEngine(tfjsEngine());
