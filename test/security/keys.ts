// Real OpenSSH public keys (made with ssh-keygen; the private halves were thrown away) for the SSH-key tests.

export const ED1 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK1qxw5odBHny595lfx1yfB2pOKErZSrZEuLelymYQs+ panel@k1';
export const ED2 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBtPi8Jv3yA9tey0IR3G5kDu1svxqp95ZvjiWxQcrreO panel@k2';
export const ED3 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOUlJo561p9Be3WktDtAS3S0ISa5yBkrI4VLkgybqKuH panel@k3';
export const RSA = 'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCuYvpxc7n0J1pE9FvywnOLuEJJBOyQZ7Q8qWDECu4cGhy6W5eGeaOC6F5Z+28P6xW3vqQ0DZ4H1MjS7X/Rjml7AnkKSIZCG46Enqrc0DQxP1HfzKxdA23Q0iE3CRM1ppKQhqdSh2c8XchiNMZVEelNrAMC1fte4Fe/HIK4h6NISqzHBp0Ws8Gc7kKu0AyL9lpAeb+ZUy0ZNe/AIBj2wkrna4JwMCP+lXpWOgSOVCT0suY5wFugOJ0eXVvvTnw1LvEAW6Ls/MpMhyqTZBVjLvEzAtp5ZfYrSIUOkK0/p/ZOMDibFcykHTm5bVMkFSf9bA8QqbtUzQdZHkVuk8G72b05 ops@rsa';
export const ECDSA = 'ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBFEDQIgYFhORo6UkCt+cm7OjGAB0zzLb3F0O/GkwRrQ+exA9pcC2NHNQpaAzElyyYE8jhJ1R2t7n3qoR88mtQHc= ops@ecdsa';
/** ED3 signed by a throwaway CA for principal alice. */
export const CERT = 'ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29tAAAAILoEioIiS+B3xXiNKYWvGdrdyJfYuvkmVaYLl+0jLyD6AAAAIOUlJo561p9Be3WktDtAS3S0ISa5yBkrI4VLkgybqKuHAAAAAAAAAAAAAAABAAAABWhvc3QxAAAACQAAAAVhbGljZQAAAAAAAAAA//////////8AAAAAAAAAggAAABVwZXJtaXQtWDExLWZvcndhcmRpbmcAAAAAAAAAF3Blcm1pdC1hZ2VudC1mb3J3YXJkaW5nAAAAAAAAABZwZXJtaXQtcG9ydC1mb3J3YXJkaW5nAAAAAAAAAApwZXJtaXQtcHR5AAAAAAAAAA5wZXJtaXQtdXNlci1yYwAAAAAAAAAAAAAAMwAAAAtzc2gtZWQyNTUxOQAAACCeMcQi9sEelB0xiNQuv2JZ6TAPJY8SElLvmgl8+mcakQAAAFMAAAALc3NoLWVkMjU1MTkAAABAws2dqt25QiDNmjYLxtW6z7/U1eioT4a2k2fuvTihsgoP+tc92b6bRRc4fUyCSJ8v/MpnBHA0YDqB/rmSdFAVBA== panel@k3';

/** The type and key data of LINE (what identifies a key). */
export const blobOf = (line: string): string => /(\S+ AAAA\S+)/.exec(line)![1];
