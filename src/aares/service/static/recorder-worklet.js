// Copies the microphone's samples (mono, as the node downmixes) to the page in blocks.
class Recorder extends AudioWorkletProcessor {
  constructor() {
    super();
    this.block = new Float32Array(4096);
    this.used = 0;
  }
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel) {
      let i = 0;
      while (i < channel.length) {
        const n = Math.min(channel.length - i, this.block.length - this.used);
        this.block.set(channel.subarray(i, i + n), this.used);
        this.used += n;
        i += n;
        if (this.used === this.block.length) {
          this.port.postMessage(this.block);
          this.block = new Float32Array(4096);
          this.used = 0;
        }
      }
    }
    return true;
  }
}
registerProcessor("recorder", Recorder);
