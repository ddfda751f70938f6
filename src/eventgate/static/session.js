// The signed-in key: by default in this tab's sessionStorage only, gone when the tab closes.
// "Remember me on this device" keeps it in localStorage instead, so that new tabs and a
// restarted browser open signed in, until someone signs out. Never in a URL or a cookie.

const KEY_ITEM = "eventgate.key";

function read(storage) {
  try {
    return storage.getItem(KEY_ITEM);
  } catch {
    return null; // storage disabled
  }
}

function remove(storage) {
  try {
    storage.removeItem(KEY_ITEM);
  } catch {
    // storage disabled: nothing was kept
  }
}

export function storedKey() {
  return read(sessionStorage) || read(localStorage);
}

/** Is the key remembered on this device (rather than in this tab only)? */
export function isRemembered() {
  return read(localStorage) !== null;
}

export function storeKey(key, { remember = false } = {}) {
  if (remember) {
    localStorage.setItem(KEY_ITEM, key);
    remove(sessionStorage);
  } else {
    sessionStorage.setItem(KEY_ITEM, key);
    remove(localStorage);
  }
}

/** Signing out forgets the key everywhere it may have been kept. */
export function forgetKey() {
  remove(sessionStorage);
  remove(localStorage);
}
