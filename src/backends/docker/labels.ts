export const LABEL_MANAGED = 'boxrun.managed';
export const LABEL_EXECUTION = 'boxrun.execution';
export const LABEL_DEADLINE = 'boxrun.deadline';
export const LABEL_KIND = 'boxrun.kind';
export const LABEL_IMAGE_HASH = 'boxrun.hash';
