// Workgroup grids for kernels over more items than one dispatch dimension allows (65535 groups):
// the shader recovers the flat index as gid.x + gid.y * (groups.x * workgroupSize).

export function grid(items: number, workgroupSize: number, maxPerDim = 65535): [number, number] {
  const groups = Math.ceil(items / workgroupSize);
  if (groups <= maxPerDim) return [groups, 1];
  const y = Math.ceil(groups / maxPerDim);
  return [Math.ceil(groups / y), y];
}

/** WGSL: the flat invocation index for a `grid()` dispatch (needs @builtin(num_workgroups) nwg). */
export function flatIndex(workgroupSize: number): string {
  return `(gid.x + gid.y * nwg.x * ${workgroupSize}u)`;
}
