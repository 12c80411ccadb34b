// What `hearth serve` accepts from its environment about where it listens and how.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { ConfigError, configFromEnv, isLoopback, parseSize } from '../../src/cli/config.js';

const base = { HEARTH_DATA_DIR: '/nonexistent/hearth-config-test' };

describe('binding beyond loopback', () => {
  it('knows loopback addresses from the rest', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) assert.ok(isLoopback(host), host);
    for (const host of ['0.0.0.0', '::', '192.168.1.2', '10.0.0.1', 'example.org', '127.0.0.1.example.org', '']) {
      assert.ok(!isLoopback(host), host);
    }
  });

  it('refuses a non-loopback address without a stated way of protecting the token', () => {
    for (const host of ['0.0.0.0', '::', '192.0.2.10']) {
      assert.throws(() => configFromEnv({ ...base, HEARTH_HOST: host }), (err: Error) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /not a loopback address: the API token would cross the network/);
        assert.match(err.message, /HEARTH_REMOTE=tls/);
        return true;
      });
    }
  });

  it('accepts it with TLS or a stated reverse proxy, and loopback needs neither', () => {
    const tls = configFromEnv({ ...base, HEARTH_HOST: '0.0.0.0', HEARTH_REMOTE: 'tls', HEARTH_TLS_CERT: '/c.pem', HEARTH_TLS_KEY: '/k.pem' });
    assert.deepEqual(tls.tls, { certFile: '/c.pem', keyFile: '/k.pem' });
    assert.equal(tls.remote, 'tls');
    const proxy = configFromEnv({ ...base, HEARTH_HOST: '0.0.0.0', HEARTH_REMOTE: 'proxy', HEARTH_PUBLIC_HOSTS: 'hearth.example.org, other.example.org' });
    assert.equal(proxy.remote, 'proxy');
    assert.equal(proxy.tls, null);
    assert.deepEqual(proxy.publicHosts, ['hearth.example.org', 'other.example.org']);
    assert.equal(configFromEnv(base).remote, 'off');
    assert.equal(configFromEnv(base).host, '127.0.0.1');
  });

  it('refuses half a TLS configuration and unknown modes', () => {
    assert.throws(() => configFromEnv({ ...base, HEARTH_TLS_CERT: '/c.pem' }), /go together/);
    assert.throws(() => configFromEnv({ ...base, HEARTH_TLS_KEY: '/k.pem' }), /go together/);
    assert.throws(() => configFromEnv({ ...base, HEARTH_REMOTE: 'tls' }), /needs HEARTH_TLS_CERT/);
    assert.throws(() => configFromEnv({ ...base, HEARTH_REMOTE: 'yes' }), /one of off, tls, proxy/);
    assert.throws(() => configFromEnv({ ...base, HEARTH_REQUEST_TIMEOUT_SECONDS: '0' }), /HEARTH_REQUEST_TIMEOUT_SECONDS/);
  });
});

describe('the memory cap of the warm pool', () => {
  it('reads sizes in bytes or with a unit of powers of 1024', () => {
    const cases: Array<[string, number]> = [
      ['1048576', 1048576],
      ['512M', 512 * 1024 ** 2],
      ['512m', 512 * 1024 ** 2],
      ['4G', 4 * 1024 ** 3],
      ['1.5G', 1.5 * 1024 ** 3],
      ['64K', 64 * 1024],
      ['2T', 2 * 1024 ** 4],
      ['4GiB', 4 * 1024 ** 3],
      ['4GB', 4 * 1024 ** 3],
      [' 100 M ', 100 * 1024 ** 2],
    ];
    for (const [raw, bytes] of cases) assert.equal(parseSize(raw), bytes, raw);
    for (const raw of ['', 'M', '4X', '-1G', '4 G B', '1e9', '0x10', '4G4', 'lots']) assert.equal(parseSize(raw), null, raw);
  });

  it('is unset by default, and a bad value is refused with the variable and the value', () => {
    assert.equal(configFromEnv(base).maxWarmMemory, null);
    assert.equal(configFromEnv({ ...base, HEARTH_POOL_MAX_MEMORY: '' }).maxWarmMemory, null);
    assert.equal(configFromEnv({ ...base, HEARTH_POOL_MAX_MEMORY: '4G' }).maxWarmMemory, 4 * 1024 ** 3);
    assert.equal(configFromEnv(base).maxOpencodeMemory, null);
    assert.equal(configFromEnv({ ...base, HEARTH_OPENCODE_MAX_MEMORY: '2G' }).maxOpencodeMemory, 2 * 1024 ** 3);
    for (const raw of ['4X', '0', '0M', 'a lot']) {
      assert.throws(
        () => configFromEnv({ ...base, HEARTH_POOL_MAX_MEMORY: raw }),
        (err: Error) => err instanceof ConfigError && err.message.includes('HEARTH_POOL_MAX_MEMORY') && err.message.includes(JSON.stringify(raw)),
        raw,
      );
    }
  });
});

describe('agent starts', () => {
  it('prewarms by default, switched off by HEARTH_PREWARM, and bounds starts by the cores unless HEARTH_MAX_STARTS says', () => {
    const defaults = configFromEnv(base);
    assert.equal(defaults.prewarm, true);
    assert.equal(defaults.maxStarts, availableParallelism());
    assert.equal(configFromEnv({ ...base, HEARTH_PREWARM: 'off' }).prewarm, false);
    assert.equal(configFromEnv({ ...base, HEARTH_MAX_STARTS: '1000' }).maxStarts, 1000);
    assert.throws(() => configFromEnv({ ...base, HEARTH_MAX_STARTS: '0' }), /HEARTH_MAX_STARTS/);
    assert.throws(() => configFromEnv({ ...base, HEARTH_PREWARM: 'maybe' }), /HEARTH_PREWARM must be on or off/);
  });
});
