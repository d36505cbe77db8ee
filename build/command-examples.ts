// One example exchange for each phoenix-* command, shown in docs/commands.md under the command:
// real replies of the agent (arrays cut to two elements). test/docs-examples.test.ts sends each
// request to a real agent and fails when the reply's shape (keys, value types) differs.

export interface Example {
  args?: Record<string, unknown>;
  /** The reply; null: none (the command ends the worker). */
  reply: unknown;
}

export const EXAMPLES: Record<string, Example> = {
  'phoenix-agent-status': { reply: {"return":{"boot":"dd42458c-db24-4142-bf49-1e990aa15626","interval_ms":500,"sup":{"pid":7857,"up_ms":1361,"start_ms":3743853,"ver":"0.1.0","rss_kb":44560,"anon_kb":7876},"worker":{"state":"ready","pid":7864,"gen":1,"progress_age_ms":1,"rss_kb":44724,"anon_kb":8936,"heap_used_kb":4637,"heap_limit_kb":68608},"restarts":{"total":0,"failures_10m":0},"last_exit":null,"channel":{"kind":"unix","state":"listening"},"epoch":"b558976e06bc601e","consecutive_failures":0,"deaths":[],"heartbeat":{"enabled":false,"target":null,"vm_id":"vm-test"}}} },
  'phoenix-get-stats': { args: { max: 1 }, reply: {"return":{"boot":"dd42458c-db24-4142-bf49-1e990aa15626","interval_ms":1000,"history":{"size":1,"capacity":720,"first_seq":1,"last_seq":1},"lost":0,"samples":[{"seq":1,"time":"2026-12-05T22:03:08.608Z","interval_ms":1015,"uptime_s":3744.99,"processes":86,"oom_kills":32,"load":{"1m":2.33,"5m":2.35,"15m":2.73},"cpu":{"total":{"user":4.9,"nice":0,"system":3.92,"iowait":0,"steal":0,"idle":91.18},"per_cpu":[{"cpu":0,"user":6.86,"nice":0,"system":4.9,"iowait":0,"steal":0,"idle":88.24},{"cpu":1,"user":2,"nice":0,"system":2,"iowait":0,"steal":0,"idle":96}]},"memory":{"total_bytes":25276157952,"available_bytes":24614871040,"used_bytes":661286912,"free_bytes":21077577728,"cached_bytes":3824205824,"buffers_bytes":56967168,"swap_total_bytes":0,"swap_free_bytes":0,"swap_used_bytes":0},"filesystems":[{"mountpoint":"/","device":"/dev/vda","type":"ext4","size_bytes":270553174016,"used_bytes":30075219968,"free_bytes":78869073920,"inodes_total":16777216,"inodes_used":471738,"inodes_free":16305478}],"disks":[{"name":"vda","read_bytes_per_s":0,"write_bytes_per_s":8070.94,"reads_per_s":0,"writes_per_s":1.97}],"interfaces":[{"name":"lo","rx_bytes_per_s":0,"tx_bytes_per_s":0,"rx_packets_per_s":0,"tx_packets_per_s":0,"rx_errors_per_s":0,"tx_errors_per_s":0,"rx_drops_per_s":0,"tx_drops_per_s":0},{"name":"eth0peer","rx_bytes_per_s":173.4,"tx_bytes_per_s":173.4,"rx_packets_per_s":1.97,"tx_packets_per_s":1.97,"rx_errors_per_s":0,"tx_errors_per_s":0,"rx_drops_per_s":0,"tx_drops_per_s":0}]}],"cost":{"cpuUs":2278,"spawned":0}}} },
  'phoenix-set-stats': { args: { interval: 30 }, reply: {"return":{"interval":30,"history":720}} },
  'phoenix-add-ip': { args: { interface: 'eth0', address: '203.0.113.10', prefix: 24 }, reply: {"return":{"interface":"eth0","address":"203.0.113.10","prefix":24,"live":"added","persisted":{"renderer":"ifupdown","file":"/etc/network/interfaces.d/phoenix-ga","action":"added"}}} },
  'phoenix-list-ips': { args: { interface: 'eth0' }, reply: {"return":[{"interface":"eth0","live":["203.0.113.10/24"],"renderer":"ifupdown","persisted":["203.0.113.10/24"],"drift":{"live_only":[],"persisted_only":[]}}]} },
  'phoenix-remove-ip': { args: { interface: 'eth0', address: '203.0.113.10', prefix: 24 }, reply: {"return":{"interface":"eth0","address":"203.0.113.10","prefix":24,"live":"removed","persisted":{"renderer":"ifupdown","file":"/etc/network/interfaces.d/phoenix-ga","action":"removed"}}} },
  'phoenix-set-hostname': { args: { hostname: 'web-42.example.com' }, reply: {"return":{"live":"changed","files":[{"file":"/etc/hostname","action":"written"},{"file":"/etc/hosts","action":"written"}]}} },
  'phoenix-test-block': { args: { ms: 10 }, reply: {"return":{}} },
  'phoenix-test-alloc': { args: { mb: 1, where: 'heap' }, reply: {"return":{"held_mb":1}} },
  'phoenix-test-spawn': { args: { s: 1 }, reply: {"return":{"pid":7886}} },
  'phoenix-test-mutate': { args: { file: '/tmp/phoenix-test-mutate.log', tag: 'a' }, reply: {"return":{"ran":"a"}} },
  'phoenix-test-exit': { args: { code: 3 }, reply: null },
};
