package io.tessera.engine;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * The {@link Backend} methods a conformance test checks against a reference, by name;
 * {@link BackendConformanceTest#everyBackendOpIsCovered} fails when a Backend method has none.
 */
@Retention(RetentionPolicy.RUNTIME)
@Target(ElementType.METHOD)
@interface Covers {
    String[] value();
}
