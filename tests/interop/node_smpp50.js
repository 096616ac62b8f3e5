// An SMPP 5.0 ESME on node-smpp (npm "smpp", which binds at 0x50): binds, broadcasts to two
// areas, queries, cancels, submits, and prints what the SMSC answered as one JSON object.
// Usage: node node_smpp50.js PORT (NODE_PATH names the node_modules holding "smpp").
const smpp = require('smpp');

const port = process.argv[2];
const out = {};
const session = smpp.connect({url: `smpp://127.0.0.1:${port}`});
const pick = (pdu, names) => Object.fromEntries(
  names.filter((name) => pdu[name] !== undefined).map((name) => [name, pdu[name]]));
const step = (command, params) => new Promise((resolve) => session[command](params, resolve));

session.on('error', (error) => { console.error(String(error)); process.exit(2); });
session.on('connect', async () => {
  const bind = await step('bind_transceiver', {system_id: 'smppclient1', password: 'password'});
  out.bind = pick(bind, ['command_status', 'system_id', 'sc_interface_version',
                         'congestion_state']);
  const source = {source_addr_ton: 1, source_addr_npi: 1, source_addr: '447700900123'};
  const broadcast = await step('broadcast_sm', {
    ...source,
    broadcast_area_identifier: ['London', 'Atlantis'],
    broadcast_content_type: {network: 0, content_type: 0x0033},
    broadcast_rep_num: 3,
    broadcast_frequency_interval: {unit: 0x09, interval: 31},
    message_payload: 'Storm warning',
  });
  out.broadcast = pick(broadcast, ['command_status', 'message_id', 'congestion_state',
                                   'failed_broadcast_area_identifier',
                                   'broadcast_error_status']);
  const query = await step('query_broadcast_sm', {...source, message_id: broadcast.message_id});
  out.query = pick(query, ['command_status', 'message_id', 'message_state',
                           'broadcast_area_identifier', 'broadcast_area_success',
                           'broadcast_end_time']);
  const cancel = await step('cancel_broadcast_sm', {...source,
                                                    message_id: broadcast.message_id});
  out.cancel = pick(cancel, ['command_status']);
  const after = await step('query_broadcast_sm', {...source, message_id: broadcast.message_id});
  out.after = pick(after, ['command_status', 'message_state']);
  const submit = await step('submit_sm', {source_addr: '4915100000001',
                                          destination_addr: '4915100000002',
                                          short_message: 'hello'});
  out.submit = pick(submit, ['command_status', 'message_id', 'congestion_state']);
  await step('unbind', {});
  console.log(JSON.stringify(out));
  session.close();
});
