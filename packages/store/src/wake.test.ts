import { parseWake } from './wake';

test('wake payloads: deleted, ids only, carried entries, and anything malformed degrades to ids only or null', () => {
  expect(parseWake('!deleted')).toEqual({ deleted: true });
  expect(parseWake('get 1-0')).toEqual({ deleted: false, streamId: 'get', lastId: '1-0' });
  expect(parseWake('s1 5-1 5-0\n5-1 msg {"a":"b c"}')).toEqual({
    deleted: false, streamId: 's1', lastId: '5-1', carried: { prevId: '5-0', entries: [{ id: '5-1', kind: 'msg', data: '{"a":"b c"}' }] },
  });
  expect(parseWake('s1 7-0 -\n6-0 msg {}\n7-0 end ')).toEqual({
    deleted: false, streamId: 's1', lastId: '7-0',
    carried: { prevId: null, entries: [{ id: '6-0', kind: 'msg', data: '{}' }, { id: '7-0', kind: 'end', data: '' }] },
  });
  expect(parseWake('s1 7-0 6-0\n7-0 weird x')).toEqual({ deleted: false, streamId: 's1', lastId: '7-0' });
  expect(parseWake('s1 8-0 6-0\n7-0 msg x')).toEqual({ deleted: false, streamId: 's1', lastId: '8-0' });
  expect(parseWake('')).toBeNull();
});
