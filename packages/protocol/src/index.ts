export * from './errors.ts'
export * from './frames.ts'
export * from './model.ts'
