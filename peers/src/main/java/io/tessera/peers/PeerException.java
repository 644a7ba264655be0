package io.tessera.peers;

/** A peer or the registry failed, refused a call, or did not answer in time; the message says which and why. */
public final class PeerException extends RuntimeException {
    public PeerException(String message, Throwable cause) {
        super(message, cause);
    }

    public PeerException(String message) {
        super(message);
    }
}
