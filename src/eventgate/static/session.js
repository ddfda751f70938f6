// The signed-in key lives in this tab's sessionStorage only: never in a URL, a cookie or
// localStorage, and it is gone when the tab closes.

const KEY_ITEM = "eventgate.key";

export function storedKey() {
  try {
    return sessionStorage.getItem(KEY_ITEM);
  } catch {
    return null;
  }
}

export function storeKey(key) {
  sessionStorage.setItem(KEY_ITEM, key);
}

export function forgetKey() {
  try {
    sessionStorage.removeItem(KEY_ITEM);
  } catch {
    // storage disabled: nothing was kept
  }
}
