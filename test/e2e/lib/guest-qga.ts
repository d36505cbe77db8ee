// Debian's qemu-guest-agent for the VM's tree, so that libvirt can drive qemu-ga and phoenix-ga in
// one image: qemu-guest-agent and the libraries the tree lacks, cached per tree key in
// CACHE_DIR/qga-debs-<hash>/ (guest-debs.ts); installing them into a writable tree is an apt-get install
// in a chroot.

import { treeDebs } from './guest-debs';

export { installDebs } from './guest-debs';

/** The cached .deb files qemu-guest-agent needs on top of TREE (a tree from ensureTree, with its .key). */
export function qemuGaDebs(tree: string): Promise<string[]> {
  return treeDebs(tree, 'qga', ['qemu-guest-agent']);
}
