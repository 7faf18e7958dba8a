import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { activeEngine, describeBackend, selectBackend } from '../src/model/backend.js';
import { LemoptError } from '../src/util/errors.js';

/** A stand-in for require() of a native package installed without its binding. */
function bindingMissing(specifier: string): never {
  throw new Error(`The specified module could not be found.\n${specifier}/lib/napi-v8/tfjs_binding.node`);
}

describe('backend selection', () => {
  // The native packages are optionalDependencies that are not installed here.
  it('auto skips the absent native packages and picks onnxruntime, saying why', async () => {
    const choice = await selectBackend({ env: {} });
    expect(choice.backend).toBe('onnxruntime');
    expect(choice.engine.name).toBe('onnxruntime');
    expect(activeEngine()).toBe(choice.engine);
    expect(choice.source).toBe('default');
    expect(choice.attempts.map((a) => [a.backend, a.loaded])).toEqual([
      ['tensorflow-gpu', false],
      ['tensorflow', false],
      ['onnxruntime', true],
    ]);
    expect(choice.attempts[0].reason).toBe('@tensorflow/tfjs-node-gpu is not installed');
    expect(choice.attempts[1].reason).toBe('@tensorflow/tfjs-node is not installed');
    expect(describeBackend(choice)).toBe('backend: onnxruntime (auto)');
    expect(describeBackend(choice, true)).toContain(
      'skipped tensorflow-gpu: @tensorflow/tfjs-node-gpu is not installed',
    );
  });

  it('falls back when a native package is present but its binding is missing', async () => {
    const choice = await selectBackend({ env: {}, requireNative: bindingMissing });
    expect(choice.backend).toBe('onnxruntime');
    expect(choice.attempts[0].reason).toBe(
      '@tensorflow/tfjs-node-gpu did not load: The specified module could not be found.',
    );
  });

  it('falls back when a native package loads but registers no backend with this tfjs', async () => {
    const choice = await selectBackend({ env: {}, requireNative: () => ({}) });
    expect(choice.backend).toBe('onnxruntime');
    expect(choice.attempts[1].reason).toContain("registered no 'tensorflow' backend");
  });

  it('LEMOPT_BACKEND=cpu picks cpu', async () => {
    const choice = await selectBackend({ env: { LEMOPT_BACKEND: 'cpu' } });
    expect(choice).toMatchObject({ backend: 'cpu', requested: 'cpu', source: 'env' });
    expect(choice.engine.name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(describeBackend(choice)).toBe('backend: cpu (cpu from env)');
  });

  it('--backend onnxruntime forces the ONNX Runtime engine', async () => {
    const choice = await selectBackend({ flag: 'onnxruntime', env: { LEMOPT_BACKEND: 'cpu' } });
    expect(choice).toMatchObject({ backend: 'onnxruntime', source: 'flag' });
    expect(activeEngine().name).toBe('onnxruntime');
  });

  it('the flag wins over LEMOPT_BACKEND, which wins over the config', async () => {
    const env = { LEMOPT_BACKEND: 'cpu' };
    expect(await selectBackend({ flag: 'wasm', config: 'cpu', env })).toMatchObject({
      backend: 'wasm',
      source: 'flag',
    });
    expect(await selectBackend({ config: 'wasm', env })).toMatchObject({ backend: 'cpu', source: 'env' });
    expect(await selectBackend({ config: 'wasm', env: {} })).toMatchObject({
      backend: 'wasm',
      source: 'config',
    });
    // The config's default, auto, leaves the choice to the environment variable.
    expect(await selectBackend({ config: 'auto', env })).toMatchObject({ backend: 'cpu', source: 'env' });
  });

  it('an explicit backend that cannot load is a LemoptError naming it and why', async () => {
    await expect(selectBackend({ flag: 'tensorflow', env: {} })).rejects.toThrow(LemoptError);
    await expect(selectBackend({ flag: 'tensorflow', env: {} })).rejects.toThrow(
      "backend 'tensorflow' (--backend) could not load: @tensorflow/tfjs-node is not installed " +
        '(install it with `npm install @tensorflow/tfjs-node`, or use backend auto, onnxruntime, wasm or cpu)',
    );
    await expect(
      selectBackend({ config: 'tensorflow-gpu', env: {}, requireNative: bindingMissing }),
    ).rejects.toThrow(
      "backend 'tensorflow-gpu' (model.backend) could not load: @tensorflow/tfjs-node-gpu did not load: " +
        'The specified module could not be found.',
    );
  });

  it('an unknown backend name is a LemoptError listing the known ones', async () => {
    await expect(selectBackend({ env: { LEMOPT_BACKEND: 'webgpu' } })).rejects.toThrow(
      "LEMOPT_BACKEND: unknown backend 'webgpu'; use one of auto, tensorflow-gpu, tensorflow, onnxruntime, wasm, cpu",
    );
    await expect(selectBackend({ flag: 'tpu' })).rejects.toThrow(LemoptError);
  });
});
