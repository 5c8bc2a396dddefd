// dcmjs ships no type declarations; the scripts use only this much of it.
declare module "dcmjs" {
  /** An entry of dcmjs's data dictionary; the benchmark generator registers private tags as such entries. */
  interface DictionaryEntry {
    tag: string;
    vr: string;
    name: string;
    vm: string;
    version: string;
  }
  const dcmjs: {
    data: {
      DicomDict: new (meta: Record<string, unknown>) => { dict: Record<string, unknown>; write(options?: Record<string, unknown>): ArrayBuffer };
      DicomMetaDictionary: {
        denaturalizeDataset(dataset: Record<string, unknown>): Record<string, unknown>;
        /** Keyword → entry; denaturalizeDataset looks keywords up here. */
        nameMap: Record<string, DictionaryEntry>;
      };
      WriteBufferStream: { prototype: object };
      DicomMessage: { readFile(buffer: ArrayBuffer, options?: Record<string, unknown>): { dict: Record<string, unknown>; meta: Record<string, unknown> } };
    };
  };
  export default dcmjs;
}
