/** PUBSUB_MODE parsing and the version check of `auto` (the Cluster cases run on real clusters elsewhere). */
import { pubSubSettingFromEnv, redisMajorVersion } from './pubsub';

test('PUBSUB_MODE: auto by default, sharded or classic when set, anything else stops start-up', () => {
  expect(pubSubSettingFromEnv({})).toBe('auto');
  expect(pubSubSettingFromEnv({ PUBSUB_MODE: '' })).toBe('auto');
  expect(pubSubSettingFromEnv({ PUBSUB_MODE: 'sharded' })).toBe('sharded');
  expect(pubSubSettingFromEnv({ PUBSUB_MODE: ' classic ' })).toBe('classic');
  expect(() => pubSubSettingFromEnv({ PUBSUB_MODE: 'SHARDED' })).toThrow(/PUBSUB_MODE must be auto, sharded or classic/);
});

test('the major version is read from INFO server (sharded pub/sub needs 7)', () => {
  expect(redisMajorVersion('# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:0\r\n')).toBe(7);
  expect(redisMajorVersion('# Server\r\nredis_version:6.2.14\r\n')).toBe(6);
  expect(redisMajorVersion('no version here')).toBe(0);
});
