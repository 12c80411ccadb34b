// What `hearth serve` accepts from its environment about where it listens and how.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { ConfigError, configFromEnv, isLoopback } from '../../src/cli/config.js';

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
