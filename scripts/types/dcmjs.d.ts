// dcmjs ships no type declarations; the scripts use only this much of it.
declare module "dcmjs" {
  const dcmjs: {
    data: {
      DicomDict: new (meta: Record<string, unknown>) => { dict: Record<string, unknown>; write(options?: Record<string, unknown>): ArrayBuffer };
      DicomMetaDictionary: { denaturalizeDataset(dataset: Record<string, unknown>): Record<string, unknown> };
      WriteBufferStream: { prototype: object };
      DicomMessage: { readFile(buffer: ArrayBuffer, options?: Record<string, unknown>): { dict: Record<string, unknown>; meta: Record<string, unknown> } };
    };
  };
  export default dcmjs;
}
