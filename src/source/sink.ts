import type { WireRead } from "../dicom/wire.js";
import type { FileFailure } from "../reasons.js";

/**
 * Where every source (files, DICOMweb, incremental state, shard parts) delivers what it finds: the same
 * instance record a header read makes, so that one path turns records into resources.
 */
export interface InstanceSink {
  /** An item found (a file, a listed instance); `reading` or `unread` follows for it, later. */
  seen(): void;
  /** An item that will not be read, with its reason (a FIFO, an unreadable folder, a study that could not be fetched). */
  unread(failure: FileFailure): void;
  /**
   * An item read: an instance record with its study and series attributes, or a reasoned failure. `stored`:
   * not read now but taken from an incremental run's state (the file has not changed since it was read), so
   * its bytes count in what reading the archive costs (the medians) but not in what this run read.
   */
  read(result: WireRead, stored?: boolean): void;
}
