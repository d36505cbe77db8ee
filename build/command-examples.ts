// One example exchange for each phoenix-* command, shown in docs/commands.md under the command:
// real replies of the agent (arrays cut to two elements). test/docs-examples.test.ts sends each
// request to a real agent and fails when the reply's shape (keys, value types) differs.

export interface Example {
  args?: Record<string, unknown>;
  /** The reply; null: none (the command ends the worker). */
  reply: unknown;
}

export const EXAMPLES: Record<string, Example> = {
  'phoenix-agent-status': { reply: {"return":{"boot":"dd42458c-db24-4142-bf49-1e990aa15626","interval_ms":500,"sup":{"pid":30605,"up_ms":1691,"start_ms":7166940,"ver":"0.1.0","rss_kb":45160,"anon_kb":8476},"worker":{"state":"ready","pid":30613,"gen":1,"progress_age_ms":0,"rss_kb":50456,"anon_kb":10572,"heap_used_kb":5877,"heap_limit_kb":68608},"restarts":{"total":0,"failures_10m":0},"last_exit":null,"channel":{"kind":"unix","state":"listening"},"epoch":"eafba057777475cf","consecutive_failures":0,"deaths":[],"heartbeat":{"enabled":false,"target":null,"vm_id":"vm-test"}}} },
  'phoenix-get-stats': { args: { max: 1 }, reply: {"return":{"boot":"dd42458c-db24-4142-bf49-1e990aa15626","interval_ms":1000,"history":{"size":1,"capacity":720,"first_seq":1,"last_seq":1},"lost":0,"samples":[{"seq":1,"time":"2026-12-05T23:00:11.954Z","interval_ms":1072,"uptime_s":7168.33,"processes":113,"oom_kills":57,"load":{"1m":4.7,"5m":4.82,"15m":4.97},"cpu":{"total":{"user":82.33,"nice":0,"system":17.67,"iowait":0,"steal":0,"idle":0},"per_cpu":[{"cpu":0,"user":85.05,"nice":0,"system":14.95,"iowait":0,"steal":0,"idle":0},{"cpu":1,"user":80.19,"nice":0,"system":19.81,"iowait":0,"steal":0,"idle":0}]},"memory":{"total_bytes":25276157952,"available_bytes":22829572096,"used_bytes":2446585856,"free_bytes":20683911168,"cached_bytes":2455453696,"buffers_bytes":34156544,"swap_total_bytes":0,"swap_free_bytes":0,"swap_used_bytes":0},"filesystems":[{"mountpoint":"/","device":"/dev/vda","type":"ext4","size_bytes":270553174016,"used_bytes":32961691648,"free_bytes":75982602240,"inodes_total":16777216,"inodes_used":501582,"inodes_free":16275634}],"disks":[{"name":"vda","read_bytes_per_s":34388.06,"write_bytes_per_s":34388.06,"reads_per_s":4.66,"writes_per_s":4.66}],"interfaces":[{"name":"lo","rx_bytes_per_s":0,"tx_bytes_per_s":0,"rx_packets_per_s":0,"tx_packets_per_s":0,"rx_errors_per_s":0,"tx_errors_per_s":0,"rx_drops_per_s":0,"tx_drops_per_s":0},{"name":"eth0peer","rx_bytes_per_s":149.25,"tx_bytes_per_s":149.25,"rx_packets_per_s":1.87,"tx_packets_per_s":1.87,"rx_errors_per_s":0,"tx_errors_per_s":0,"rx_drops_per_s":0,"tx_drops_per_s":0}]}],"cost":{"cpuUs":2235,"spawned":0}}} },
  'phoenix-set-stats': { args: { interval: 30 }, reply: {"return":{"interval":30,"history":720}} },
  'phoenix-add-ip': { args: { interface: 'eth0', address: '203.0.113.10', prefix: 24 }, reply: {"return":{"interface":"eth0","address":"203.0.113.10","prefix":24,"live":"added","persisted":{"renderer":"ifupdown","file":"/etc/network/interfaces.d/phoenix-ga","action":"added"}}} },
  'phoenix-list-ips': { args: { interface: 'eth0' }, reply: {"return":[{"interface":"eth0","live":["203.0.113.10/24"],"renderer":"ifupdown","persisted":["203.0.113.10/24"],"kind":"veth","real":false,"driver":null,"primary":[],"drift":{"live_only":[],"persisted_only":[]}}]} },
  'phoenix-remove-ip': { args: { interface: 'eth0', address: '203.0.113.10', prefix: 24 }, reply: {"return":{"interface":"eth0","address":"203.0.113.10","prefix":24,"live":"removed","persisted":{"renderer":"ifupdown","file":"/etc/network/interfaces.d/phoenix-ga","action":"removed"}}} },
  'phoenix-set-hostname': { args: { hostname: 'web-42.example.com' }, reply: {"return":{"live":"changed","files":[{"file":"/etc/hostname","action":"written"},{"file":"/etc/hosts","action":"written"}]}} },
  'phoenix-capabilities': { reply: {"return":{"commands":[{"name":"guest-sync","enabled":true},{"name":"guest-sync-delimited","enabled":true}],"frozen":false,"root":"writable","journal":null}} },
  'phoenix-diagnose-login': { args: { username: 'alice' }, reply: {"return":{"username":"alice","problems":6,"findings":[{"check":"account","status":"ok","desc":"'alice' exists","evidence":["uid 1001, gid 1001, home /home/alice, shell /bin/bash"]},{"check":"password","status":"problem","desc":"the password is locked (passwd -l / usermod -L): password logins fail; keys still work where sshd uses PAM (UsePAM yes)","evidence":["/etc/shadow field 2 starts with '!'"]}]}} },
  'phoenix-test-block': { args: { ms: 10 }, reply: {"return":{}} },
  'phoenix-test-alloc': { args: { mb: 1, where: 'heap' }, reply: {"return":{"held_mb":1}} },
  'phoenix-test-spawn': { args: { s: 1 }, reply: {"return":{"pid":30654}} },
  'phoenix-test-mutate': { args: { file: '/tmp/phoenix-test-mutate.log', tag: 'a' }, reply: {"return":{"ran":"a"}} },
  'phoenix-test-exit': { args: { code: 3 }, reply: null },
};
